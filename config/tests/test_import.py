"""Contact import from CSV and XLSX: bad rows are reported one by one and the good rows still go in."""

import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from calls.models import Contact, ContactList, DoNotCall
from calls.services import contacts_import

pytestmark = pytest.mark.django_db

CSV = """phone,name,company,timezone,city
+7 916 123-45-67,Алексей,ООО Вектор,Asia/Novosibirsk,Новосибирск
8 (916) 765-43-21,Марина,ООО Ромашка,,Москва
12345,Плохой номер,ООО Ошибка,Europe/Moscow,
,Без телефона,ООО Пусто,Europe/Moscow,
+79161234567,Дубликат,ООО Вектор,Asia/Novosibirsk,
+79165550000,Плохая зона,ООО Зона,Mars/Olympus,
+79031112233,Игорь,ООО Север,Asia/Vladivostok,Владивосток
"""


@pytest.fixture
def contact_list():
    return ContactList.objects.create(name="Import test")


def test_csv_import_reports_bad_rows_and_keeps_good_ones(contact_list):
    DoNotCall.objects.create(phone="+79031112233", reason="asked not to call")
    report = contacts_import(contact_list=contact_list, content=CSV.encode(), file_format="csv")

    assert report.fatal == ""
    assert report.created == 3
    phones = set(contact_list.contacts.values_list("phone", flat=True))
    assert phones == {"+79161234567", "+79167654321", "+79031112233"}
    by_row = {p.row: p for p in report.problems}
    assert set(by_row) == {4, 5, 6, 7}  # header is row 1
    assert by_row[4].field == "phone"
    assert by_row[5].field == "phone"
    assert by_row[6].field == "phone"
    assert "already in the list" in by_row[6].message or "уже есть" in by_row[6].message
    assert by_row[7].field == "timezone"

    marina = Contact.objects.get(phone="+79167654321")
    assert marina.timezone == "Europe/Moscow"  # blank time zone gets the default
    assert marina.variables == {"city": "Москва"}  # unknown columns become custom variables
    assert Contact.objects.get(phone="+79031112233").do_not_call is True  # DNC list honoured at import


def test_xlsx_import_with_russian_headers(contact_list):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Телефон", "Имя", "Компания", "Часовой пояс"])
    sheet.append(["+79161112233", "Ольга", "ООО Бета", "Asia/Yekaterinburg"])
    sheet.append(["не номер", "Пётр", "ООО Гамма", "Asia/Yekaterinburg"])
    buffer = io.BytesIO()
    book.save(buffer)

    report = contacts_import(contact_list=contact_list, content=buffer.getvalue(), file_format="xlsx")
    assert report.created == 1
    assert [(p.row, p.field) for p in report.problems] == [(3, "phone")]
    assert contact_list.contacts.get().name == "Ольга"


def test_unreadable_file_and_missing_phone_column_are_fatal_and_import_nothing(contact_list):
    assert contacts_import(contact_list=contact_list, content=b"\x00\x01garbage", file_format="xlsx").fatal
    report = contacts_import(contact_list=contact_list, content="name\nИван\n".encode(), file_format="csv")
    assert "phone" in report.fatal
    assert contact_list.contacts.count() == 0


def test_admin_import_page_shows_rows(client, manager, contact_list):
    client.force_login(manager)
    url = reverse("admin:calls_contactlist_import", args=[contact_list.pk])
    upload = SimpleUploadedFile("contacts.csv", CSV.encode(), content_type="text/csv")
    response = client.post(url, {"file": upload})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="import-problems"' in html
    assert contact_list.contacts.count() == 3


def test_operator_cannot_import(client, operator, contact_list):
    client.force_login(operator)
    url = reverse("admin:calls_contactlist_import", args=[contact_list.pk])
    upload = SimpleUploadedFile("contacts.csv", CSV.encode(), content_type="text/csv")
    assert client.post(url, {"file": upload}).status_code == 403
    assert contact_list.contacts.count() == 0


def test_do_not_call_spellings_are_honoured_and_unknown_ones_refuse_the_row(contact_list):
    csv = ("phone,name,do_not_call\n+79160000001,А,да\n+79160000002,Б,yes\n+79160000003,В,Yes\n"
           "+79160000004,Г,нет\n+79160000005,Д,\n+79160000006,Е,наверное\n")
    report = contacts_import(contact_list=contact_list, content=csv.encode(), file_format="csv")
    flags = dict(contact_list.contacts.values_list("phone", "do_not_call"))
    assert flags == {"+79160000001": True, "+79160000002": True, "+79160000003": True,
                     "+79160000004": False, "+79160000005": False}
    assert [(p.row, p.field) for p in report.problems] == [(7, "do_not_call")]
    assert "наверное" in report.problems[0].message


def test_a_binary_file_gets_words_not_a_python_error(contact_list):
    report = contacts_import(contact_list=contact_list, content=b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", file_format="csv")
    assert report.fatal and "codec" not in report.fatal and "UTF-8" in report.fatal
    assert not contact_list.contacts.exists()


def test_a_duplicate_phone_is_reported_against_the_phone_field(contact_list):
    csv = "phone,name\n+79160000001,А\n+7 916 000-00-01,Б\n"
    report = contacts_import(contact_list=contact_list, content=csv.encode(), file_format="csv")
    assert report.created == 1
    assert [(p.row, p.field) for p in report.problems] == [(3, "phone")]

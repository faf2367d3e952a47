"""Demo content: people, companies and scenarios for a forwarder bringing cargo from China to Russia."""

from __future__ import annotations

DEMO_PASSWORD_DEFAULT = "demo-pass-2026"

USERS = [
    # username, first name, last name, role
    ("manager", "Ирина", "Соколова", "Manager"),
    ("operator", "Дмитрий", "Орлов", "Operator"),
    ("anna", "Анна", "Петрова", "Trainee"),
    ("sergey", "Сергей", "Иванов", "Trainee"),
]

SCRIPTS = [
    ("Холодный звонок: доставка грузов из Китая", "ru", "freight_ru.json"),
    ("Cold call: freight from China (EN)", "en", "freight_en.json"),
]

CONTACT_LIST = "Импортёры: товары из Китая (демо)"
CAMPAIGN = "Демо: доставка из Китая — импортёры"

# (name, company, time zone, city, product). Phones are generated: +7 916 55x xx xx.
CONTACTS = [
    ("Алексей Смирнов", "ООО «ТехноИмпорт»", "Europe/Moscow", "Москва", "электроника"),
    ("Марина Кузнецова", "ООО «СтройМаркет»", "Europe/Moscow", "Москва", "стройматериалы"),
    ("Олег Васильев", "ИП Васильев О. Н.", "Europe/Moscow", "Тверь", "запчасти"),
    ("Екатерина Новикова", "ООО «ДомТекстиль»", "Europe/Moscow", "Иваново", "текстиль"),
    ("Павел Морозов", "АО «Промоборудование»", "Europe/Moscow", "Тула", "станки"),
    ("Наталья Волкова", "ООО «Детский мир Опт»", "Europe/Moscow", "Москва", "игрушки"),
    ("Игорь Лебедев", "ООО «Балтийский импорт»", "Europe/Kaliningrad", "Калининград", "мебель"),
    ("Светлана Козлова", "ООО «Янтарь-Логистик»", "Europe/Kaliningrad", "Калининград", "посуда"),
    ("Андрей Соловьёв", "ООО «Волга-Трейд»", "Europe/Samara", "Самара", "автозапчасти"),
    ("Юлия Павлова", "ООО «Самара Электро»", "Europe/Samara", "Самара", "кабель"),
    ("Роман Семёнов", "ООО «Уралснаб»", "Asia/Yekaterinburg", "Екатеринбург", "инструмент"),
    ("Татьяна Голубева", "ООО «УралТекс»", "Asia/Yekaterinburg", "Челябинск", "ткани"),
    ("Виктор Виноградов", "ООО «Пермь-Импорт»", "Asia/Yekaterinburg", "Пермь", "светильники"),
    ("Ольга Богданова", "ООО «Тюмень Агро»", "Asia/Yekaterinburg", "Тюмень", "агротехника"),
    ("Денис Фёдоров", "ООО «Омский терминал»", "Asia/Omsk", "Омск", "упаковка"),
    ("Елена Михайлова", "ООО «Сибирь Декор»", "Asia/Omsk", "Омск", "декор"),
    ("Максим Беляев", "ООО «Новосиб Трейд»", "Asia/Novosibirsk", "Новосибирск", "бытовая техника"),
    ("Анастасия Тарасова", "ООО «СибХим»", "Asia/Novosibirsk", "Новосибирск", "химия"),
    ("Кирилл Белов", "ООО «Обь-Логистик»", "Asia/Novosibirsk", "Барнаул", "оборудование"),
    ("Ирина Комарова", "ООО «Красноярск Опт»", "Asia/Krasnoyarsk", "Красноярск", "спецодежда"),
    ("Артём Орлов", "ООО «Енисей Импорт»", "Asia/Krasnoyarsk", "Красноярск", "шины"),
    ("Вера Киселёва", "ООО «Байкал Трейд»", "Asia/Irkutsk", "Иркутск", "стекло"),
    ("Григорий Макаров", "ООО «Ангара Снаб»", "Asia/Irkutsk", "Иркутск", "насосы"),
    ("Людмила Андреева", "ООО «Забайкалье Импорт»", "Asia/Chita", "Чита", "одежда"),
    ("Николай Ковалёв", "ООО «Амур Логистик»", "Asia/Yakutsk", "Благовещенск", "продукты"),
    ("Ксения Ильина", "ООО «Приморье Трейд»", "Asia/Vladivostok", "Владивосток", "электроника"),
    ("Станислав Гусев", "ООО «Дальвосток Импорт»", "Asia/Vladivostok", "Владивосток", "спецтехника"),
    ("Дарья Титова", "ООО «Хабаровск Снаб»", "Asia/Vladivostok", "Хабаровск", "обувь"),
    ("Евгений Кузьмин", "ООО «Сахалин Маркет»", "Asia/Sakhalin", "Южно-Сахалинск", "бытовая химия"),
    ("Полина Кудрявцева", "ООО «Камчатка Снаб»", "Asia/Kamchatka", "Петропавловск-Камчатский", "генераторы"),
]

PRODUCT = (
    "«ТрансВосток Логистик» — доставка грузов из Китая в Россию под ключ: сборные и полные контейнеры, "
    "авто, ж/д и мультимодальные маршруты, таможенное оформление «в белую», страхование груза, "
    "консолидация на складах в Иу, Гуанчжоу и Шэньчжэне. Сроки: авто 18–25 дней, ж/д 25–35 дней. "
    "Фиксированная ставка в договоре, личный менеджер и отслеживание груза онлайн."
)

SCENARIOS = [
    # title, difficulty, persona key, persona description
    (
        "Лояльный импортёр (лёгкий)",
        "easy",
        "olga_easy",
        "Владелец небольшого магазина электроники, возит раз в месяц сборные грузы, недоволен сроками нынешнего "
        "перевозчика и открыт к предложениям.",
    ),
    (
        "Занятой логист (средний)",
        "medium",
        "sergey_medium",
        "Логист производственной компании, всё время занят, уже работает с перевозчиком, задаёт вопросы о цене "
        "и сроках, просит «скинуть на почту».",
    ),
    (
        "Скептичный директор по закупкам (сложный)",
        "hard",
        "igor_hard",
        "Директор по закупкам сети магазинов: давит на цену, не верит обещаниям, перебивает, не спешит "
        "раскрывать объёмы и сам решения не принимает без собственника.",
    ),
]

PRODUCT_EN = (
    "TransEast Logistics: door-to-door freight from China to Europe and the UK: LCL and full containers, "
    "sea, rail and road, customs clearance, cargo insurance and consolidation at our warehouses in Yiwu, "
    "Guangzhou and Shenzhen. Transit: rail 18-25 days, sea 35-45 days. A fixed rate in the contract, a personal "
    "manager and online tracking."
)

SCENARIOS_EN = [
    # title, difficulty, persona key, persona description
    (
        "Friendly shop owner (easy, EN)",
        "easy",
        "emma_easy_en",
        "Owns a small electronics shop, imports a pallet a month from Shenzhen, unhappy with slow deliveries and "
        "open to a better offer.",
    ),
    (
        "Busy purchasing manager (medium, EN)",
        "medium",
        "john_en",
        "Purchasing manager of a furniture importer: busy, already has a carrier, asks about price and transit "
        "times and wants it «by email».",
    ),
    (
        "Sceptical procurement director (hard, EN)",
        "hard",
        "robert_hard_en",
        "Procurement director of a retail chain: pushes on price, doubts every promise, interrupts, keeps volumes "
        "to himself and does not decide alone.",
    ),
]

"""Russian unless the user picked another language: the browser's Accept-Language is not a choice."""

from django.conf import settings
from django.middleware.locale import LocaleMiddleware
from django.utils import translation


class ChosenLanguageMiddleware(LocaleMiddleware):
    """Like Django's, but only the language cookie (set by the switcher) overrides ``LANGUAGE_CODE``.

    Sales teams here often run English-language browsers; the console still opens in Russian.
    """

    def process_request(self, request):
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        language = chosen if chosen in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()

"""What every vendor integration shares: one provider registry for all kinds (``registry``), one error family
(``errors``), one OpenAI client and status mapping (``openai_api``) and the Twilio REST client (``twilio_rest``).

Framework-free like the voice core: no Django, no Channels, no app of this project. ``voice`` (speech),
``calls`` (carriers), ``crm`` (CRM and messaging), ``dialogs`` and ``training`` (the language models)
build their providers on it.
"""

"""The language model the user brings: an OpenAI-compatible chat-completions endpoint, or a plugin.

A plugin (``ANALYTICS_LLM_PLUGIN=package.module:factory``) is any object ``factory()`` returns with
``chat(messages: list[dict[str, str]]) -> str`` (OpenAI-style messages in, the answer's text out) and, optionally,
``name: str`` (kept in ``ask_history.model``). It sees the same conversation an endpoint does.
"""

from __future__ import annotations

import importlib
from typing import Protocol
from urllib.parse import urlsplit

from analytics_pipeline.settings import LanguageModel, SettingsError

# An endpoint without a key (a local Ollama or vLLM) still gets a bearer token: the client needs one, the server
# ignores it (Ollama's own instructions pass "ollama" the same way).
KEYLESS_TOKEN = "no-key"
# One failed request (a timeout, a refused connection, 429, 5xx) is sent once more, with the client's backoff.
ENDPOINT_RETRIES = 1


class ModelError(Exception):
    """The language model could not be asked (unreachable, too slow, refused the request); one line, no key."""


class ChatModel(Protocol):
    name: str

    def chat(self, messages: list[dict[str, str]]) -> str: ...


def configured_model(settings: LanguageModel) -> ChatModel:
    """The model the settings name; a SettingsError (exit 2) says what to set when none is."""
    missing = settings.missing()
    if missing:
        raise SettingsError(missing)
    if settings.plugin:
        return PluginModel(settings.plugin)
    return EndpointModel(settings)


class EndpointModel:
    """An OpenAI-compatible ``/chat/completions`` endpoint (OpenAI, Ollama, vLLM, LM Studio, a gateway, ...)."""

    def __init__(self, settings: LanguageModel):
        import openai

        self.name = settings.model
        self.endpoint = endpoint_label(settings.base_url)
        self._key = settings.api_key
        self._timeout = settings.timeout_seconds
        self._temperature: float | None = 0.0  # the likeliest SQL; dropped for models that refuse the parameter
        self._client = openai.OpenAI(base_url=settings.base_url, api_key=settings.api_key or KEYLESS_TOKEN,
                                     timeout=settings.timeout_seconds, max_retries=ENDPOINT_RETRIES)
        # OPENAI_ORG_ID / OPENAI_PROJECT_ID belong to the user's OpenAI account, not to whatever endpoint this is
        self._client.organization = None
        self._client.project = None

    def chat(self, messages: list[dict[str, str]]) -> str:
        import openai

        try:
            try:
                response = self._create(messages)
            except openai.BadRequestError as err:
                if self._temperature is None or "temperature" not in str(err.message).lower():
                    raise
                self._temperature = None  # e.g. reasoning models take only their default temperature
                response = self._create(messages)
        except openai.APITimeoutError:
            raise ModelError(f"the language model at {self.endpoint} did not answer within {self._timeout:g} s "
                             "(ANALYTICS_LLM_TIMEOUT_SECONDS)") from None
        except openai.APIConnectionError as err:
            raise ModelError(self._redact(f"cannot reach the language model at {self.endpoint}: "
                                          f"{_cause(err)}")) from None
        except openai.APIStatusError as err:
            raise ModelError(self._redact(f"the language model at {self.endpoint} answered {err.status_code}: "
                                          f"{_status_detail(err)}")) from None
        except openai.OpenAIError as err:
            raise ModelError(self._redact(f"the language model at {self.endpoint} gave an answer that cannot be "
                                          f"read: {_first_line(err)}")) from None
        choices = getattr(response, "choices", None) or []
        if not choices:
            raise ModelError(f"the language model at {self.endpoint} answered without a message")
        return choices[0].message.content or ""

    def _create(self, messages: list[dict[str, str]]):
        extra = {} if self._temperature is None else {"temperature": self._temperature}
        return self._client.chat.completions.create(model=self.name, messages=messages, **extra)

    def _redact(self, text: str) -> str:
        """A server may echo the key it was sent (e.g. in a 401 message)."""
        return text.replace(self._key, "***") if self._key else text


class PluginModel:
    """A model given as ``package.module:factory`` (see the module's docstring)."""

    def __init__(self, spec: str):
        module_name, _, factory_name = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise SettingsError(f"ANALYTICS_LLM_PLUGIN={spec}: cannot import {module_name}: {err}") from None
        factory = getattr(module, factory_name, None)
        if not callable(factory):
            raise SettingsError(f"ANALYTICS_LLM_PLUGIN={spec}: {module_name} has no callable {factory_name}")
        try:
            self._model = factory()
        except Exception as err:  # noqa: BLE001 - the plugin's own failure, in one line
            raise SettingsError(f"ANALYTICS_LLM_PLUGIN={spec}: {factory_name}() failed: {type(err).__name__}: "
                                f"{_first_line(err)}") from None
        if not callable(getattr(self._model, "chat", None)):
            raise SettingsError(f"ANALYTICS_LLM_PLUGIN={spec}: {factory_name}() returned an object without "
                                "chat(messages) -> str")
        self.spec = spec
        self.name = str(getattr(self._model, "name", "") or spec)
        self.endpoint = f"plugin:{spec}"

    def chat(self, messages: list[dict[str, str]]) -> str:
        try:
            answer = self._model.chat(messages)
        except Exception as err:  # noqa: BLE001 - whatever the plugin raises is its failure to answer, in one line
            raise ModelError(f"the plugin {self.spec} failed: {type(err).__name__}: {_first_line(err)}") from None
        if not isinstance(answer, str):
            raise ModelError(f"the plugin {self.spec} answered a {type(answer).__name__}, not text")
        return answer


def endpoint_label(base_url: str) -> str:
    """The endpoint as it may be shown and logged: scheme, host, port and path (no query string)."""
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _cause(err: Exception) -> str:
    """The innermost reason of a connection failure ("Connection refused"), not the client's generic text."""
    seen, reason = err, _first_line(err)
    for _ in range(10):
        seen = seen.__cause__ or seen.__context__
        if seen is None:
            break
        reason = _first_line(seen) or reason
    return reason


def _status_detail(err) -> str:
    body = err.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else inner
        return _first_line(str(message))[:300]
    return _first_line(str(body if body is not None else err.message))[:300]


def _first_line(err: Exception | str) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__ if isinstance(err, Exception) else ""])[0]

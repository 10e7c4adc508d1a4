"""A read-only client for the Vonigo REST API (``https://<tenant>.vonigo.com/api/v1/``).

What the client guarantees (see the package README, "The Vonigo API as we know it", for the evidence behind each point):

- Login sends the lower-case hex MD5 of the plain password, exactly once per login; never the
  plain text. One login per client; the token lives in this instance only, so parallel
  franchise tasks (each with its own client) never share a session.
- ``errNo -421`` (session gone): log in again once, restore the franchise, replay the request
  and return the replayed result.
- Outages answer with HTML (Cloudflare 522), 5xx, timeouts or truncated JSON: retried with
  exponential backoff; after the configured tries the call fails with "Vonigo unavailable".
  Validation errors (``-600``) are never retried and carry their ``Errors[]`` text.
- Every value is sent as a string, every path with its trailing slash, with a descriptive
  User-Agent. Only list/retrieve method codes reach ``data/`` endpoints: the client cannot write.
  A date filter never goes out without ``dateMode`` (Vonigo would ignore the dates).
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from bi_pipelines.core.errors import AuthenticationError, ConfigError, ExtractionError
from bi_pipelines.core.retry import retrying
from bi_pipelines.core.values import parse_bool
from bi_pipelines.sources.vonigo.spec import ClientSettings

log = logging.getLogger(__name__)

SESSION_EXPIRED = -421
VALIDATION_FAILED = -600
SAME_FRANCHISE = -5213
# Method codes that only read. Everything else (2, 3, 4, 5, 6, 16 ...) edits, adds, deletes or
# moves records, and codes are not uniform across objects, so the client refuses them outright.
READ_METHODS = frozenset({"", "0", "-1", "1"})
_HEX_MD5 = re.compile(r"^[0-9a-f]{32}$")
CREDENTIALS_FILE = "vonigo_creds.py"
# A securityToken value in a JSON body or a query string, also when the text is cut inside it.
_TOKEN_VALUE = re.compile(r"""(securityToken["']?\s*[:=]\s*["']?)[^"'&\s,}]*""", re.IGNORECASE)


class VonigoError(ExtractionError):
    """A Vonigo call failed."""


class VonigoConfigError(VonigoError, ConfigError):
    """The connection lacks something no retry can fix (host, username, password); permanent."""


class VonigoUnavailable(VonigoError):
    """Vonigo did not answer with JSON after every configured try (outage, timeouts)."""


class VonigoApiError(VonigoError):
    """Vonigo answered with a non-zero ``errNo``."""

    def __init__(self, message: str, errno: int | None = None, errors: list | None = None):
        super().__init__(message)
        self.errno = errno
        self.errors = errors or []


class VonigoValidationError(VonigoApiError):
    """``errNo -600`` "Data validation failed." with per-field ``Errors[]``; never retried."""


class VonigoLoginError(VonigoApiError, AuthenticationError):
    """The login was refused; permanent, never retried (an account lockout policy is plausible)."""


class VonigoSessionError(VonigoApiError):
    """The session expired again right after a fresh login."""


class _Outage(Exception):
    """One try failed in a way another try may fix; its text is the reason (never a token)."""


@dataclass(frozen=True)
class VonigoEndpoint:
    """Where the tenant is and who logs in. ``password`` is the plain text; it is never sent."""

    base_url: str  # e.g. https://acme.vonigo.com/api/v1/
    username: str
    password: str = field(repr=False)
    company: str = "Vonigo"
    verify: bool = True
    conn_id: str = "vonigo_api"
    password_is_md5: bool = False

    @property
    def host(self) -> str:
        """The tenant's host name, for messages."""
        return urlsplit(self.base_url).netloc


def password_md5(plain: str) -> str:
    """The lower-case hex MD5 of the plain password, as Vonigo's login expects it."""
    return hashlib.md5(plain.encode("utf-8"), usedforsecurity=False).hexdigest()


def _mask(value: str) -> None:
    """Hide a value in Airflow's task logs: Vonigo accepts the MD5 itself as the password."""
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - the client also runs without Airflow
        return
    mask_secret(value)


def endpoint_from_connection(conn_id: str, api_path: str = "/api/v1/") -> VonigoEndpoint:
    """Build the endpoint from an Airflow connection (``vonigo_creds.py`` -> ``vonigo_api``).

    The connection holds host = tenant host without scheme, schema = scheme, login, password =
    the plain password, extra ``company`` / ``verify_certificate``; extra ``base_url`` overrides
    everything (a local fake), extra ``password_is_md5`` says the password is already hashed.

    Raises:
        VonigoConfigError: when the host, the username or the password is missing, naming the
            credentials file and the key to add (a :class:`ConfigError`: no retry can fix it).
    """
    from bi_pipelines.db.connections import get_connection

    conn = get_connection(conn_id)
    extra = conn.extra_dejson or {}
    for value, key, field_name in (
        (conn.login, "username", "login"),
        (conn.password, "raw_password", "password"),
    ):
        if not value:
            raise VonigoConfigError(
                f"connection {conn_id!r} has no username or password: set `{key}` in {CREDENTIALS_FILE} "
                f"(or {field_name} on the Airflow connection)"
            )
    base_url = extra.get("base_url")
    if not base_url:
        host = (conn.host or "").strip()
        if not host:
            raise VonigoConfigError(
                f"connection {conn_id!r} has no host: add host = '<tenant>.vonigo.com' to {CREDENTIALS_FILE} "
                "(the `host` key: the tenant's own Vonigo address, without https://)"
            )
        scheme = (conn.schema or "https").strip().rstrip(":/") or "https"
        host = host.removeprefix("https://").removeprefix("http://").rstrip("/")
        if conn.port and ":" not in host:
            host = f"{host}:{conn.port}"
        base_url = f"{scheme}://{host}{api_path}"
    return VonigoEndpoint(
        base_url=base_url.rstrip("/") + "/",
        username=conn.login,
        password=conn.password,
        company=str(extra.get("company") or "Vonigo"),
        verify=parse_bool(extra.get("verify_certificate"), default=True),
        conn_id=conn_id,
        password_is_md5=parse_bool(extra.get("password_is_md5"), default=False),
    )


def as_text(value: Any) -> Any:
    """Vonigo's public clients send every scalar as a string (``"true"``, ``"200"``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return [as_text(v) for v in value]
    if isinstance(value, dict):
        return {k: as_text(v) for k, v in value.items()}
    return value


def errno_of(data: dict) -> int:
    """The ``errNo`` of a Vonigo response: 0 for success, -1 when it is not a number."""
    try:
        return int(data.get("errNo") or 0)
    except (TypeError, ValueError):
        return -1


def session_gone(data: dict) -> bool:
    """``errNo -421``, or the "Session expired" / "Session does not exist" texts seen on logout."""
    message = str(data.get("errMsg") or "").lower()
    return errno_of(data) == SESSION_EXPIRED or (
        errno_of(data) != 0 and ("session expired" in message or "session does not exist" in message)
    )


def describe_errors(data: dict) -> str:
    """``errMsg`` plus the text of each ``Errors[]`` entry, for a person to read."""
    parts = [str(data.get("errMsg") or "").strip() or "(no errMsg)"]
    for err in data.get("Errors") or []:
        if isinstance(err, dict):
            name = err.get("fieldName") or f"field {err.get('fieldID')}"
            parts.append(f"{name}: {err.get('errMsg')} (errNo {err.get('errNo')})")
    return "; ".join(parts)


def list_items(data: dict, keys: Iterable[str]) -> list[dict]:
    """The records of a list response under the first of ``keys`` present (case-insensitive).

    A missing key means an empty page (Vonigo omits it past the last page); a single object
    under the key counts as a one-element page.
    """
    lowered = {k.lower(): k for k in data}
    for key in keys:
        actual = lowered.get(key.lower())
        if actual is None:
            continue
        value = data[actual]
        if value is None:
            return []
        if isinstance(value, dict):
            return [value]
        return [v for v in value if isinstance(v, dict)]
    return []


@dataclass
class PageResult:
    """All records of one paged list call, de-duplicated on their id (the newest copy kept).

    ``passes``, ``reread`` and ``recovered`` describe :meth:`VonigoClient.fetch_stable`: how many
    times the list was read, how many records the passes after the first returned, and how many
    records only a later pass found (records an edit during paging had made the first one skip).
    """

    records: list[dict]
    pages: int = 0
    duplicates: int = 0
    seconds: float = 0.0
    passes: int = 1
    reread: int = 0
    recovered: int = 0


def edited_stamp(record: dict) -> float:
    """``dateLastEdited`` as a number for comparing two copies of a record (missing: oldest)."""
    try:
        return float(str(record.get("dateLastEdited")).strip())
    except (TypeError, ValueError):
        return float("-inf")


def keep_newest(kept: dict[str, dict], record: dict, object_id: str) -> bool:
    """Put ``record`` in ``kept`` unless a copy edited later is there; True when it was new.

    On a tie the copy read later wins: it cannot be older than the one read before it.
    """
    old = kept.get(object_id)
    if old is None or edited_stamp(record) >= edited_stamp(old):
        kept[object_id] = record
    return old is None


class VonigoClient:
    """One Vonigo session: log in once, reuse the token, log out on :meth:`close`.

    Use as a context manager so the logout happens in a ``finally``::

        with VonigoClient(endpoint, settings) as client:
            client.switch_franchise(90)
            result = client.fetch_all("data/Clients/", {"dateMode": 2, ...}, list_keys=["Clients"])

    Args:
        endpoint: The tenant and the credentials.
        settings: Timeouts, retries, User-Agent, paging defaults.
        sleep: Replaced in tests to observe the backoff without waiting.
    """

    def __init__(
        self,
        endpoint: VonigoEndpoint,
        settings: ClientSettings | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        http: requests.Session | None = None,
    ):
        self.endpoint = endpoint
        self.settings = settings or ClientSettings()
        self._sleep = sleep
        self._http = http or requests.Session()
        self._http.headers.update({"User-Agent": self.settings.user_agent, "Accept": "application/json"})
        self._http.verify = endpoint.verify
        self._token: str | None = None
        self._franchise_id: str | None = None
        self.session_info: dict = {}
        self.stats = {"requests": 0, "retries": 0, "logins": 0, "relogins": 0}
        if not endpoint.password_is_md5 and _HEX_MD5.match(endpoint.password):
            log.warning(
                "the password of connection %r looks like an MD5 hash already; it is hashed again "
                "before login. If it is a hash, set extra password_is_md5 = true.",
                endpoint.conn_id,
            )

    @classmethod
    def from_connection(cls, settings: ClientSettings, **kwargs: Any) -> VonigoClient:
        """A client for the endpoint the Airflow connection of ``settings`` describes."""
        return cls(endpoint_from_connection(settings.conn_id, settings.api_path), settings, **kwargs)

    # -- context -------------------------------------------------------------------------------
    def __enter__(self) -> VonigoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Log out (errors ignored) and close the HTTP session."""
        try:
            self.logout()
        finally:
            self._http.close()

    # -- transport -----------------------------------------------------------------------------
    def url(self, path: str) -> str:
        """The full URL of an API path (Vonigo requires the trailing slash)."""
        # Vonigo requires the trailing slash on every path.
        return self.endpoint.base_url + path.strip("/") + "/"

    def _send(
        self, path: str, params: dict[str, Any], *, http_method: str = "POST", attempts: int | None = None
    ) -> dict:
        """One call with retries on outages; returns the parsed JSON object, whatever its errNo."""
        s = self.settings
        attempts = attempts or s.attempts
        url = self.url(path)
        payload = {k: as_text(v) for k, v in params.items() if v is not None}
        policy = retrying(
            attempts=attempts,
            backoff_seconds=s.backoff_seconds,
            max_backoff_seconds=s.max_backoff_seconds,
            jitter=s.jitter,
            transient=(_Outage,),
            what=f"Vonigo {path} at {self.endpoint.host}",
            logger=log,
            secrets=[self._token],
            sleep=self._sleep,
            on_retry=self._count_retry,
        )
        try:
            return policy(self._send_once, url, payload, http_method, path)
        except _Outage as exc:
            raise VonigoUnavailable(
                f"Vonigo unavailable: {path} at {self.endpoint.host} failed {attempts} times, last with {exc}. "
                "This is an outage or a slow tenant: the task retries later; tries and backoff are "
                "source.attempts/backoff_seconds in config/vonigo.yaml."
            ) from None

    def _count_retry(self, _retry_state: Any) -> None:
        self.stats["retries"] += 1

    def _send_once(self, url: str, payload: dict[str, Any], http_method: str, path: str) -> dict:
        """One HTTP request: the JSON object, or :class:`_Outage` when another try may help.

        A 4xx answer without JSON (a wrong path, Cloudflare's 1010) raises :class:`VonigoError`:
        the same request would get the same answer.
        """
        s = self.settings
        self.stats["requests"] += 1
        try:
            if http_method == "GET":
                response = self._http.get(url, params=payload, timeout=(s.connect_timeout, s.read_timeout))
            else:
                response = self._http.post(url, json=payload, timeout=(s.connect_timeout, s.read_timeout))
        except requests.Timeout:
            raise _Outage(f"no answer within {s.read_timeout:g} s") from None
        except requests.ConnectionError as exc:
            # The exception text can carry the URL (with a token on GET): name the type only.
            raise _Outage(f"connection failed ({type(exc.__cause__ or exc).__name__})") from None
        data = _json_object(response)
        if response.status_code < 500 and data is not None:
            return data
        if response.status_code >= 500:
            raise _Outage(f"HTTP {response.status_code}" + (" (an HTML page)" if _is_html(response) else ""))
        if response.status_code >= 400:
            raise VonigoError(_client_error(response, path, self.endpoint.host))
        raise _Outage(f"a non-JSON body ({_snippet(response)})")

    # -- session -------------------------------------------------------------------------------
    @property
    def logged_in(self) -> bool:
        """Whether the client holds a session token."""
        return self._token is not None

    def login(self) -> None:
        """Log in and keep the token. Raises :class:`VonigoLoginError` when refused (not retried)."""
        e = self.endpoint
        password = e.password if e.password_is_md5 else password_md5(e.password)
        _mask(password)
        params = {"company": e.company, "userName": e.username, "password": password}
        if self.settings.app_version:
            params["appVersion"] = self.settings.app_version
        data = self._send("security/login/", params)
        token = data.get("securityToken")
        if errno_of(data) != 0 or not token:
            raise VonigoLoginError(
                f"Vonigo login as {e.username!r} at {e.host} was refused: errNo {data.get('errNo')}, "
                f"{describe_errors(data)}. Check username and raw_password in vonigo_creds.py "
                f"(connection {e.conn_id!r}); not retried, to avoid locking the account.",
                errno_of(data),
                data.get("Errors"),
            )
        self._token = str(token)
        _mask(self._token)
        self.session_info = data.get("Session") or {}
        self.stats["logins"] += 1
        log.info(
            "logged in to Vonigo at %s as %r (home franchise %s)",
            e.host,
            e.username,
            self.session_info.get("franchiseID"),
        )

    def logout(self) -> None:
        """End the session; a failed or expired logout is only logged."""
        token, self._token = self._token, None
        if token is None:
            return
        try:
            data = self._send("security/logout/", {"securityToken": token}, http_method="GET", attempts=1)
            if errno_of(data) != 0:
                log.info(
                    "Vonigo logout answered errNo %s (%s); ignored", data.get("errNo"), data.get("errMsg")
                )
        except Exception as exc:  # the data is extracted; a failed logout must not fail the task
            log.info("Vonigo logout failed (%s); ignored", exc)

    def switch_franchise(self, franchise_id: int | str) -> None:
        """Attach this session to a franchise; "same franchise" (-600/-5213) counts as success."""
        self._franchise_id = str(franchise_id)
        self.request("security/session/", self._switch_params(), accept=_same_franchise)

    def _switch_params(self) -> dict[str, Any]:
        return {"method": "2", "franchiseID": self._franchise_id}

    def _authenticated(self, path: str, params: dict[str, Any]) -> dict:
        if self._token is None:
            self.login()
        return self._send(path, {**params, "securityToken": self._token})

    def _restore_session(self) -> None:
        self._token = None
        self.login()
        self.stats["relogins"] += 1
        if self._franchise_id is not None:
            # The franchise belongs to the server-side session: a new token starts at home.
            data = self._authenticated("security/session/", self._switch_params())
            if errno_of(data) != 0 and not _same_franchise(data):
                raise VonigoApiError(
                    f"Vonigo security/session/ at {self.endpoint.host}: cannot switch back to franchise "
                    f"{self._franchise_id} after a new login: {describe_errors(data)}",
                    errno_of(data),
                    data.get("Errors"),
                )

    def request(
        self, path: str, params: dict[str, Any], *, accept: Callable[[dict], bool] | None = None
    ) -> dict:
        """An authenticated call; on ``-421`` log in again once and return the replayed result.

        Args:
            path: e.g. ``data/WorkOrders/`` (the trailing slash is added when missing).
            params: Request parameters; values are sent as strings.
            accept: Says whether a non-zero errNo answer is nevertheless a success.

        Raises:
            VonigoValidationError: ``-600``, with the ``Errors[]`` text; never retried.
            VonigoApiError: any other non-zero errNo.
            VonigoUnavailable: the outage outlasted the configured tries.
        """
        method = params.get("method")
        if (
            path.lower().startswith(("data/", "resources/"))
            and str(as_text(method) or "") not in READ_METHODS
        ):
            raise VonigoError(
                f"refusing to send method {method!r} to {path}: this client only reads from Vonigo"
            )
        if ("dateStart" in params or "dateEnd" in params) and params.get("dateMode") in (None, ""):
            # Vonigo silently ignores the dates without it and returns every record ever made.
            raise VonigoError(
                f"{path}: dateStart/dateEnd need a dateMode (1 created, 2 edited, 3 service date)"
            )
        data = self._authenticated(path, params)
        if session_gone(data):
            log.warning(
                "Vonigo session expired during %s (errNo -421); logging in again and replaying it", path
            )
            self._restore_session()
            data = self._authenticated(path, params)
            if session_gone(data):
                raise VonigoSessionError(
                    f"Vonigo {path} at {self.endpoint.host}: the session expired again right after a new login "
                    f"({describe_errors(data)})",
                    SESSION_EXPIRED,
                )
        errno = errno_of(data)
        if errno != 0 and not (accept and accept(data)):
            where = f"Vonigo {path} at {self.endpoint.host}"
            if errno == VALIDATION_FAILED:
                raise VonigoValidationError(
                    f"{where}: errNo -600 {describe_errors(data)}", errno, data.get("Errors")
                )
            raise VonigoApiError(f"{where}: errNo {errno} {describe_errors(data)}", errno, data.get("Errors"))
        return data

    # -- paging --------------------------------------------------------------------------------
    def fetch_all(
        self,
        path: str,
        params: dict[str, Any],
        *,
        list_keys: Iterable[str],
        id_key: str = "objectID",
        page_size: int | None = None,
        max_pages: int | None = None,
    ) -> PageResult:
        """Page through a list call with ``pageNo``/``pageSize``, de-duplicating on ``id_key``.

        Stops on a short, empty or missing page, or on a page that adds nothing new (``data/Cases/``
        may ignore ``pageNo`` and return page 1 again).

        Raises:
            VonigoError: when ``max_pages`` full pages still did not reach the end, rather than
                land a silently truncated object.
        """
        page_size = page_size or self.settings.page_size
        max_pages = max_pages or self.settings.max_pages
        keys = tuple(list_keys)
        started = time.monotonic()
        result = PageResult(records=[])
        # A record on a later page may be a newer copy of one already seen (edited while paging):
        # keep the copy with the latest dateLastEdited. dicts keep the order of first sight.
        kept: dict[str, dict] = {}
        for page_no in range(1, max_pages + 1):
            data = self.request(path, {**params, "pageNo": page_no, "pageSize": page_size})
            items = list_items(data, keys)
            result.pages += 1
            if not items and page_no == 1:
                _warn_unknown_key(data, keys, path)
            new = 0
            for item in items:
                object_id = item.get(id_key)
                if object_id is None or str(object_id) == "":
                    raise VonigoError(
                        f"Vonigo {path}: a record on page {page_no} has no {id_key!r}; "
                        "check id_key for this object in config/vonigo.yaml"
                    )
                if keep_newest(kept, item, str(object_id)):
                    new += 1
                else:
                    result.duplicates += 1
            if len(items) < page_size:
                break
            if new == 0:
                log.warning(
                    "Vonigo %s: page %d repeated earlier records only; the server ignores pageNo here, "
                    "so only the first %d records are reachable",
                    path,
                    page_no,
                    page_size,
                )
                break
        else:
            raise VonigoError(
                f"Vonigo {path}: still full pages after {max_pages} pages of {page_size}; raise "
                "source.max_pages (or page_size) in config/vonigo.yaml or extract a shorter window"
            )
        result.records = list(kept.values())
        result.seconds = time.monotonic() - started
        return result

    def fetch_stable(
        self,
        path: str,
        params: dict[str, Any],
        *,
        list_keys: Iterable[str],
        id_key: str = "objectID",
        page_size: int | None = None,
        max_pages: int | None = None,
        max_passes: int | None = None,
    ) -> PageResult:
        """:meth:`fetch_all` repeated until two consecutive passes list the same records.

        Offset paging shifts when a record is edited out of the window (or to the end of the sort
        order) between two pages, and the record that moves into the gap is never returned. No
        pass can see that by itself, so the list is read again until two passes agree on every
        ``id_key`` and ``dateLastEdited``; the result is the union of the passes, newest copy
        kept. Re-listing relies on nothing Vonigo leaves undocumented (a keyset on
        ``dateStart`` would need inclusive bounds and a confirmed sort mode).

        Raises:
            VonigoError: when ``max_passes`` (``source.max_passes``) passes never agreed.
        """
        max_passes = max_passes or self.settings.max_passes
        started = time.monotonic()
        keys = tuple(list_keys)

        def fetch() -> PageResult:
            return self.fetch_all(
                path, params, list_keys=keys, id_key=id_key, page_size=page_size, max_pages=max_pages
            )

        first = fetch()
        kept = {str(r[id_key]): r for r in first.records}
        total = PageResult(records=[], pages=first.pages, duplicates=first.duplicates)
        previous = _listing(first.records, id_key)
        for _ in range(1, max_passes):
            again = fetch()
            total.passes += 1
            total.pages += again.pages
            total.reread += len(again.records)
            for record in again.records:
                if keep_newest(kept, record, str(record[id_key])):
                    total.recovered += 1
            listing = _listing(again.records, id_key)
            if listing == previous:
                break
            previous = listing
        else:
            raise VonigoError(
                f"Vonigo {path}: {max_passes} consecutive listings never agreed (records kept being edited "
                "while paging); raise source.max_passes in config/vonigo.yaml or retry later"
            )
        if total.recovered:
            log.warning(
                "Vonigo %s: %d record(s) appeared only on a later pass (edited while paging); %d pass(es)",
                path,
                total.recovered,
                total.passes,
            )
        total.records = list(kept.values())
        total.seconds = time.monotonic() - started
        return total


def _listing(records: Iterable[dict], id_key: str) -> dict[str, str]:
    """What two passes must agree on: each record's id and edited stamp."""
    return {str(r[id_key]): str(r.get("dateLastEdited")) for r in records}


def _same_franchise(data: dict) -> bool:
    """``-600`` whose only sub-errors are ``-5213`` "Same franchise ID supplied."."""
    errors = data.get("Errors") or []
    return (
        errno_of(data) == VALIDATION_FAILED
        and bool(errors)
        and all(str(e.get("errNo")) == str(SAME_FRANCHISE) for e in errors if isinstance(e, dict))
    )


def _json_object(response: requests.Response) -> dict | None:
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _is_html(response: requests.Response) -> bool:
    return "html" in response.headers.get("Content-Type", "").lower() or response.text.lstrip()[:1] == "<"


def mask_tokens(text: str) -> str:
    """``text`` with every ``securityToken`` value replaced by ``***`` (JSON or query string).

    A body cut short (a login answer, before the client knows the token) still carries a live
    token in its first characters; no snippet, log line or error may show it.
    """
    return _TOKEN_VALUE.sub(r"\1***", text)


def _snippet(response: requests.Response) -> str:
    text = mask_tokens(" ".join(response.text.split()))[:60]
    return f"HTTP {response.status_code}, starts {text!r}" if text else f"HTTP {response.status_code}, empty"


def _client_error(response: requests.Response, path: str, host: str) -> str:
    status = response.status_code
    if status == 403 and "1010" in response.text:
        hint = "Cloudflare blocked the User-Agent (error 1010); set source.user_agent in config/vonigo.yaml"
    elif status == 404:
        hint = "unknown path; check the object's path in config/vonigo.yaml and the api_path"
    else:
        hint = "not retried"
    return f"Vonigo {path} at {host} answered HTTP {status} without JSON: {hint}"


def _warn_unknown_key(data: dict, keys: tuple[str, ...], path: str) -> None:
    """A misspelt list key would read as "no records" forever: say so when another list is there."""
    wanted = {k.lower() for k in keys}
    if any(k.lower() in wanted for k in data):
        return
    others = [k for k, v in data.items() if isinstance(v, list) and k.lower() != "errors"]
    if others:
        log.warning(
            "Vonigo %s: no %s in the response but list(s) under %s; check list_keys in config/vonigo.yaml",
            path,
            "/".join(keys),
            ", ".join(others),
        )

"""Credentials files -> Airflow connections.

The BI team keeps one small Python-looking file per system (``postgres_creds.py`` ...), in the
formats of the team's runbook. They are parsed here *as data*: only literal assignments
(``name = 'value'``) are accepted and nothing is ever executed. Each file maps to one Airflow
connection with a fixed id (see ``CREDENTIAL_FILES``).

Errors name the file and the key, never a value: a value might be a password.
"""

from __future__ import annotations

import ast
import difflib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bi_pipelines.core.errors import ConfigError

DEFAULT_CREDENTIALS_DIR = Path(__file__).resolve().parents[2] / "credentials"


def credentials_dir() -> Path:
    """The folder credentials files are read from: ``$CREDENTIALS_DIR`` or ``credentials/``."""
    return Path(os.environ.get("CREDENTIALS_DIR") or DEFAULT_CREDENTIALS_DIR)


@dataclass(frozen=True)
class Key:
    """One assignment a credentials file may contain."""

    name: str
    types: tuple[type, ...] = (str,)
    required: bool = False
    secret: bool = False
    doc: str = ""


@dataclass(frozen=True)
class ConnectionFields:
    """What an Airflow connection is built from (mirrors ``airflow.sdk.Connection``)."""

    conn_id: str
    conn_type: str
    host: str | None = None
    port: int | None = None
    login: str | None = None
    password: str | None = None
    schema: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # never print the password
        return (
            f"ConnectionFields(conn_id={self.conn_id!r}, conn_type={self.conn_type!r}, host={self.host!r}, "
            f"port={self.port!r}, login={self.login!r}, password={'***' if self.password else None}, "
            f"schema={self.schema!r}, extra={self.extra!r})"
        )


@dataclass(frozen=True)
class CredentialFile:
    """A credentials file format: its keys and how they become a connection."""

    filename: str
    conn_id: str
    keys: tuple[Key, ...]
    build: Callable[[str, dict[str, Any]], ConnectionFields]


_ASCII_DIGITS = frozenset("0123456789")


def _port(values: dict[str, Any], key: str, default: int, filename: str) -> int:
    raw = values.get(key, default)
    port: int | None = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        port = raw
    elif isinstance(raw, str):
        text = raw.strip()
        # ASCII digits only: str.isdigit() accepts '²' (which int() rejects) and int() reads
        # Arabic-Indic or other Unicode digits as a number nobody meant. The length check keeps
        # int() away from its digit limit for a very long string.
        if text and len(text) <= 5 and set(text) <= _ASCII_DIGITS:
            port = int(text)
    if port is None or not 0 < port < 65536:
        raise ConfigError(f"{filename}: `{key}` must be a port number between 1 and 65535")
    return port


def _build_postgres(conn_id: str, v: dict[str, Any]) -> ConnectionFields:
    extra = {"sslmode": v["sslmode"]} if v.get("sslmode") else {}
    return ConnectionFields(
        conn_id=conn_id,
        conn_type="postgres",
        host=v["host"],
        port=_port(v, "port", 5432, "postgres_creds.py"),
        login=v["username"],
        password=v["password"],
        schema=v["dbname"],
        extra=extra,
    )


REDSHIFT_HOST_SUFFIX = ".redshift.amazonaws.com"


def _build_redshift(conn_id: str, v: dict[str, Any]) -> ConnectionFields:
    engine = v.get("engine", "redshift")
    if engine not in ("redshift", "postgres"):
        raise ConfigError("redshift_creds.py: `engine` must be 'redshift' or 'postgres'")
    host = v.get("host")
    if not host:
        cluster = v["cluster"]
        host = cluster if cluster.endswith(REDSHIFT_HOST_SUFFIX) else cluster + REDSHIFT_HOST_SUFFIX
    extra: dict[str, Any] = {}
    for key in ("s3_staging_bucket", "s3_staging_prefix", "iam_role_arn", "aws_conn_id", "sslmode"):
        if v.get(key):
            extra[key] = v[key]
    return ConnectionFields(
        conn_id=conn_id,
        # A PostgreSQL stand-in for the warehouse (local demo and tests) is a postgres connection.
        conn_type=engine,
        host=host,
        port=_port(v, "port", 5439, "redshift_creds.py"),
        login=v["username"],
        password=v["password"],
        schema=v["db_name"],
        extra=extra,
    )


def _build_imap(conn_id: str, v: dict[str, Any]) -> ConnectionFields:
    use_ssl = v.get("imap_ssl", True)
    return ConnectionFields(
        conn_id=conn_id,
        conn_type="imap",
        host=v.get("imap_host", "outlook.office365.com"),
        port=_port(v, "imap_port", 993 if use_ssl else 143, "imap_creds.py"),
        login=v["imap_username"],
        password=v["imap_password"],
        extra={
            "use_ssl": use_ssl,
            "verify_certificate": v.get("imap_verify_certificate", True),
            "folder": v.get("imap_folder", "INBOX"),
            **({"ca_file": v["imap_ca_file"]} if v.get("imap_ca_file") else {}),
        },
    )


def _build_mysql(conn_id: str, v: dict[str, Any]) -> ConnectionFields:
    return ConnectionFields(
        conn_id=conn_id,
        conn_type="mysql",
        host=v["instance_ip"],
        port=_port(v, "portal", 3306, "obe_mysql_creds.py"),
        login=v["user"],
        password=v["password"],
        schema=v["database_name"],
        extra={"charset": v.get("charset", "utf8mb4")},
    )


def _build_vonigo(conn_id: str, v: dict[str, Any]) -> ConnectionFields:
    host = v.get("host")
    if host:
        host = host.removeprefix("https://").removeprefix("http://").rstrip("/")
    return ConnectionFields(
        conn_id=conn_id,
        conn_type="http",
        host=host,
        login=v["username"],
        # Plain text, as in the file; the Vonigo client sends its MD5 hash exactly once.
        password=v["raw_password"],
        schema=v.get("scheme", "https"),
        extra={
            "company": v.get("company", "Vonigo"),
            "verify_certificate": v.get("verify_certificate", True),
            # The client sends a stored MD5 as it is instead of hashing it a second time.
            "password_is_md5": v.get("password_is_md5", False),
        },
    )


_S = (str,)
_PORT = (str, int)
_BOOL = (bool,)

CREDENTIAL_FILES: dict[str, CredentialFile] = {
    f.conn_id: f
    for f in (
        CredentialFile(
            "postgres_creds.py",
            "info_portal_postgres",
            (
                Key("username", required=True),
                Key("password", required=True, secret=True),
                Key("host", required=True),
                Key("dbname", required=True),
                Key("port", _PORT, doc="default 5432"),
                Key("sslmode"),
            ),
            _build_postgres,
        ),
        CredentialFile(
            "redshift_creds.py",
            "redshift_dw",
            (
                Key("username", required=True),
                Key("password", required=True, secret=True),
                Key("cluster", required=True),
                Key("db_name", required=True),
                Key("port", _PORT, doc="default 5439"),
                Key("host", doc="full host name; default <cluster>.redshift.amazonaws.com"),
                Key("engine", doc="'redshift' (default) or 'postgres' for a PostgreSQL stand-in"),
                Key("s3_staging_bucket"),
                Key("s3_staging_prefix"),
                Key("iam_role_arn"),
                Key("aws_conn_id"),
                Key("sslmode"),
            ),
            _build_redshift,
        ),
        CredentialFile(
            "imap_creds.py",
            "bi_imap",
            (
                Key("imap_username", required=True),
                Key("imap_password", required=True, secret=True),
                Key("imap_host", doc="default outlook.office365.com"),
                Key("imap_port", _PORT, doc="default 993 with SSL, 143 without"),
                Key("imap_ssl", _BOOL, doc="default True"),
                Key("imap_verify_certificate", _BOOL, doc="default True"),
                Key("imap_folder", doc="default INBOX"),
                Key("imap_ca_file", doc="a CA bundle to trust, for a server with a private certificate"),
            ),
            _build_imap,
        ),
        CredentialFile(
            "obe_mysql_creds.py",
            "obe_mysql",
            (
                Key("instance_ip", required=True),
                Key("database_name", required=True),
                Key("user", required=True),
                Key("password", required=True, secret=True),
                Key("portal", _PORT, doc="the port; default 3306"),
                Key("charset", doc="default utf8mb4"),
            ),
            _build_mysql,
        ),
        CredentialFile(
            "vonigo_creds.py",
            "vonigo_api",
            (
                Key("username", required=True),
                Key("raw_password", required=True, secret=True),
                Key("host", doc="the tenant host, e.g. 'mycompany.vonigo.com'"),
                Key("company", doc="default 'Vonigo'"),
                Key("scheme", doc="default https"),
                Key("verify_certificate", _BOOL, doc="default True"),
                Key(
                    "password_is_md5",
                    _BOOL,
                    doc="True when raw_password is already the MD5 hash; default False",
                ),
            ),
            _build_vonigo,
        ),
    )
}


def parse_literal_assignments(path: Path) -> dict[str, Any]:
    """Read ``name = <literal>`` lines from ``path`` without executing anything.

    Raises:
        ConfigError: on a syntax error, a statement other than a literal assignment, or a repeated
            key. The message names the file, the line and the key, never the value.
    """
    name = path.name
    try:
        source = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{name}: not valid UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(
            f"{name}: cannot be read ({exc.strerror or type(exc).__name__}); make it a file the "
            "Airflow user can read (owner and mode, e.g. chmod 600 owned by that user)"
        ) from None
    try:
        tree = ast.parse(source, filename=name)
    except SyntaxError as exc:
        # exc.text would show the line, which may hold a password: report the position only.
        raise ConfigError(f"{name}: syntax error on line {exc.lineno}: {exc.msg}") from None
    except (ValueError, MemoryError, RecursionError) as exc:  # e.g. NUL bytes, absurd nesting
        raise ConfigError(f"{name}: not a readable Python file ({type(exc).__name__})") from None
    values: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # a docstring or a bare string used as a comment
        if not (
            isinstance(node, ast.Assign | ast.AnnAssign)
            and len(getattr(node, "targets", [getattr(node, "target", None)])) == 1
        ):
            raise ConfigError(
                f"{name}: line {node.lineno}: only simple assignments like `key = 'value'` are allowed"
            )
        target = node.targets[0] if isinstance(node, ast.Assign) else node.target
        if not isinstance(target, ast.Name):
            raise ConfigError(f"{name}: line {node.lineno}: only simple assignments to a name are allowed")
        key = target.id
        if node.value is None:
            raise ConfigError(f"{name}: line {node.lineno}: `{key}` has no value")
        try:
            value = ast.literal_eval(node.value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            # TypeError: an unhashable dict key or set member ({[]: 'x'}); the others: a value
            # too large or too deeply nested to build. None of the messages is shown: they may
            # quote the value.
            raise ConfigError(
                f"{name}: line {node.lineno}: `{key}` must be a literal value (a quoted string, "
                "a number or True/False), not an expression"
            ) from None
        if key in values:
            raise ConfigError(f"{name}: line {node.lineno}: `{key}` is assigned twice")
        values[key] = value
    return values


_LOGIN_KEYS = ("username", "user", "imap_username")


def _type_names(types: tuple[type, ...]) -> str:
    names = {str: "a quoted string", int: "a whole number", bool: "True or False"}
    return " or ".join(names[t] for t in types)


def validate_values(spec: CredentialFile, values: dict[str, Any]) -> dict[str, Any]:
    """Check ``values`` against the file's keys; return them with surrounding blanks stripped.

    Secrets are kept verbatim: a password may begin or end with a space, and stripping it would
    make the login fail for a reason nobody could see.
    """
    known = {k.name: k for k in spec.keys}
    for name in values:
        if name not in known:
            hint = difflib.get_close_matches(name, known, n=1)
            suggestion = f" (did you mean `{hint[0]}`?)" if hint else ""
            raise ConfigError(
                f"{spec.filename}: unknown key `{name}`{suggestion}; allowed keys: {', '.join(known)}"
            )
    clean: dict[str, Any] = {}
    for key in spec.keys:
        if key.name not in values:
            if key.required:
                raise ConfigError(f"{spec.filename}: required key `{key.name}` is missing")
            continue
        value = values[key.name]
        # bool is a subclass of int: only accept it where a bool is wanted.
        ok = isinstance(value, key.types) and (bool in key.types or not isinstance(value, bool))
        if not ok:
            raise ConfigError(
                f"{spec.filename}: `{key.name}` must be {_type_names(key.types)}, got {type(value).__name__}"
            )
        if isinstance(value, str) and not key.secret:
            value = value.strip()
            # A blank login or password reaches the server and fails there; a blank host cannot.
            if key.required and not value and not key.secret and key.name not in _LOGIN_KEYS:
                raise ConfigError(f"{spec.filename}: `{key.name}` is empty")
        clean[key.name] = value
    return clean


def load_connection(conn_id: str, directory: Path | None = None) -> ConnectionFields | None:
    """Build the connection ``conn_id`` from its credentials file, or None when the file is absent.

    Raises:
        ConfigError: when the file exists but is invalid or unreadable, or when something other
            than a file (a directory, a broken symbolic link) is at its path.
    """
    spec = CREDENTIAL_FILES.get(conn_id)
    if spec is None:
        return None
    path = (directory or credentials_dir()) / spec.filename
    if not path.is_file():
        _check_absent(path)
        return None
    values = validate_values(spec, parse_literal_assignments(path))
    return spec.build(conn_id, values)


def _check_absent(path: Path) -> None:
    """Return when nothing is at ``path``; raise when something other than a file is there.

    Raises:
        ConfigError: for a directory, a symbolic link that leads to no file (a loop or a missing
            target), or anything else that is not a regular file.
    """
    name = path.name
    if path.is_symlink():
        raise ConfigError(
            f"{name}: is a symbolic link that leads to no file (its target is missing, or the "
            f"link points back to itself); point it at the credentials file or remove it"
        )
    try:
        exists = path.exists()
    except OSError as exc:
        raise ConfigError(f"{name}: cannot be inspected ({exc.strerror or type(exc).__name__})") from None
    if not exists:
        return
    if path.is_dir():
        raise ConfigError(
            f"{name}: is a directory, not a file; remove it and put the credentials file there "
            "(a Docker bind mount of a missing file creates such a directory)"
        )
    raise ConfigError(f"{name}: is not a regular file; replace it with the credentials file")

"""Credentials files in the runbook's formats -> connection fields; every kind of bad file."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bi_pipelines.core.errors import ConfigError
from bi_pipelines.credentials import CREDENTIAL_FILES, load_connection, parse_literal_assignments

REPO = Path(__file__).resolve().parents[2]
SECRET = "S3cr3t-do-not-print"

# The five files exactly as the runbook writes them (with values filled in).
RUNBOOK = {
    "postgres_creds.py": f"""
        username = 'bi'
        password = '{SECRET}'
        host = '192.168.32.171'
        dbname = 'poc_db'
        port = '5499'
        """,
    "redshift_creds.py": f"""
        username = "bi"
        password = "{SECRET}"
        cluster = "o2ebrands-bi.cnomrdbyfyea.ca-central-1"
        db_name = "o2enexus"
        """,
    "imap_creds.py": f"""
        imap_username = 'reports@example.com'
        imap_password = '{SECRET}'
        """,
    "obe_mysql_creds.py": f"""
        instance_ip = '173.194.248.216'
        database_name = 'obe_v8'
        user = 'bi'
        password = '{SECRET}'
        portal = '3306'
        """,
    "vonigo_creds.py": f"""
        username = 'api@example.com'
        raw_password = '{SECRET}'
        """,
}
RUNBOOK = {name: textwrap.dedent(text) for name, text in RUNBOOK.items()}
CONN_ID = {spec.filename: conn_id for conn_id, spec in CREDENTIAL_FILES.items()}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def load(tmp_path: Path, name: str, text: str):
    (tmp_path / name).write_text(text)
    return load_connection(CONN_ID[name], tmp_path)


def test_postgres_runbook_format(tmp_path):
    c = load(tmp_path, "postgres_creds.py", RUNBOOK["postgres_creds.py"])
    assert (c.conn_id, c.conn_type, c.host, c.port, c.login, c.password, c.schema) == (
        "info_portal_postgres",
        "postgres",
        "192.168.32.171",
        5499,
        "bi",
        SECRET,
        "poc_db",
    )


def test_redshift_runbook_format_gets_suffix_and_default_port(tmp_path):
    c = load(tmp_path, "redshift_creds.py", RUNBOOK["redshift_creds.py"])
    assert c.conn_type == "redshift"
    assert c.host == "o2ebrands-bi.cnomrdbyfyea.ca-central-1.redshift.amazonaws.com"
    assert (c.port, c.schema, c.login, c.password) == (5439, "o2enexus", "bi", SECRET)


def test_redshift_optional_keys(tmp_path):
    text = RUNBOOK["redshift_creds.py"] + "cluster_unused = 1\n"
    with pytest.raises(ConfigError, match="unknown key `cluster_unused`"):
        load(tmp_path, "redshift_creds.py", text)
    text = RUNBOOK["redshift_creds.py"] + textwrap.dedent(
        """
        host = "127.0.0.1"
        port = 5432
        engine = "postgres"
        s3_staging_bucket = "bi-staging"
        iam_role_arn = "arn:aws:iam::1:role/copy"
        """
    )
    c = load(tmp_path, "redshift_creds.py", text)
    assert (c.conn_type, c.host, c.port) == ("postgres", "127.0.0.1", 5432)
    assert c.extra == {"s3_staging_bucket": "bi-staging", "iam_role_arn": "arn:aws:iam::1:role/copy"}


def test_redshift_cluster_given_with_suffix_is_not_doubled(tmp_path):
    text = RUNBOOK["redshift_creds.py"].replace('.ca-central-1"', '.ca-central-1.redshift.amazonaws.com"')
    assert load(tmp_path, "redshift_creds.py", text).host.count("redshift.amazonaws.com") == 1


def test_imap_runbook_format_defaults(tmp_path):
    c = load(tmp_path, "imap_creds.py", RUNBOOK["imap_creds.py"])
    assert (c.conn_id, c.conn_type, c.host, c.port) == ("bi_imap", "imap", "outlook.office365.com", 993)
    assert c.extra == {"use_ssl": True, "verify_certificate": True, "folder": "INBOX"}


def test_imap_without_ssl_defaults_to_port_143(tmp_path):
    c = load(
        tmp_path, "imap_creds.py", RUNBOOK["imap_creds.py"] + "\nimap_ssl = False\nimap_host = 'mail.local'\n"
    )
    assert (c.host, c.port, c.extra["use_ssl"]) == ("mail.local", 143, False)


def test_mysql_runbook_format_portal_is_the_port(tmp_path):
    c = load(tmp_path, "obe_mysql_creds.py", RUNBOOK["obe_mysql_creds.py"])
    assert (c.conn_id, c.conn_type, c.host, c.port, c.schema, c.login) == (
        "obe_mysql",
        "mysql",
        "173.194.248.216",
        3306,
        "obe_v8",
        "bi",
    )
    assert c.extra == {"charset": "utf8mb4"}


def test_vonigo_runbook_format_keeps_plain_password_for_the_client_to_hash(tmp_path):
    c = load(tmp_path, "vonigo_creds.py", RUNBOOK["vonigo_creds.py"])
    assert (c.conn_id, c.conn_type, c.host, c.password, c.schema) == (
        "vonigo_api",
        "http",
        None,
        SECRET,
        "https",
    )
    c = load(
        tmp_path, "vonigo_creds.py", RUNBOOK["vonigo_creds.py"] + "\nhost = 'https://acme.vonigo.com/'\n"
    )
    assert c.host == "acme.vonigo.com"


def test_vonigo_password_is_md5_reaches_the_connection_extra_the_client_reads(tmp_path, monkeypatch):
    import hashlib
    import json

    from bi_pipelines.sources.vonigo.client import endpoint_from_connection

    hashed = hashlib.md5(SECRET.encode(), usedforsecurity=False).hexdigest()
    text = f"username = 'api@example.com'\nraw_password = '{hashed}'\nhost = 'acme.vonigo.com'\n"
    c = load(tmp_path, "vonigo_creds.py", text + "password_is_md5 = True\n")
    assert c.extra["password_is_md5"] is True
    assert c.password == hashed
    body = {"conn_type": c.conn_type, "host": c.host, "login": c.login, "password": c.password}
    monkeypatch.setenv("AIRFLOW_CONN_VONIGO_API", json.dumps({**body, "schema": c.schema, "extra": c.extra}))
    assert endpoint_from_connection("vonigo_api").password_is_md5 is True
    assert load(tmp_path, "vonigo_creds.py", text).extra.get("password_is_md5", False) is False
    with pytest.raises(ConfigError, match=r"vonigo_creds\.py: `password_is_md5` must be True or False"):
        load(tmp_path, "vonigo_creds.py", text + "password_is_md5 = 'yes'\n")


def test_runbook_blank_templates_still_parse(tmp_path):
    """The runbook's own blank templates (empty user and password) are valid files."""
    c = load(tmp_path, "imap_creds.py", "imap_username = ''\nimap_password = ''\n")
    assert (c.login, c.password) == ("", "")


@pytest.mark.parametrize("name", sorted(CONN_ID))
def test_every_template_is_valid_and_fake(name):
    template = REPO / "credentials_templates" / name
    conn = load_connection(CONN_ID[name], template.parent)
    assert conn is not None
    assert conn.conn_id == CONN_ID[name]
    assert conn.password == "change-me"
    # Every key of the format is documented in the template, commented or not.
    text = template.read_text()
    for key in CREDENTIAL_FILES[CONN_ID[name]].keys:
        assert f"{key.name} =" in text, f"{name}: key {key.name} is not documented"


def test_missing_file_is_no_connection(tmp_path):
    assert load_connection("obe_mysql", tmp_path) is None
    assert load_connection("not_a_credentials_connection", tmp_path) is None


BAD_FILES = [
    (
        "syntax error",
        f"username = 'bi'\npassword = '{SECRET}\n",
        r"postgres_creds.py: syntax error on line 2",
    ),
    (
        "missing key",
        f"username = 'bi'\npassword = '{SECRET}'\nhost = 'h'\n",
        r"required key `dbname` is missing",
    ),
    (
        "unknown key",
        RUNBOOK["postgres_creds.py"] + "\ncolour = 'x'\n",
        r"unknown key `colour`; allowed keys: username",
    ),
    (
        "typo",
        RUNBOOK["postgres_creds.py"].replace("username", "usrname"),
        r"unknown key `usrname` \(did you mean `username`",
    ),
    (
        "typo suggestion",
        RUNBOOK["postgres_creds.py"].replace("dbname", "db_name"),
        r"unknown key `db_name` \(did you mean `dbname`",
    ),
    (
        "expression",
        f"username = 'bi'\npassword = '{SECRET}' + 'x'\nhost = 'h'\ndbname = 'd'\n",
        r"line 2: `password` must be a literal",
    ),
    ("call", "import os\nusername = 'bi'\n", r"line 1: only simple assignments"),
    ("env lookup", "username = os.environ['USER']\n", r"`username` must be a literal value"),
    (
        "wrong type",
        RUNBOOK["postgres_creds.py"].replace("'5499'", "5499.5"),
        r"`port` must be a quoted string or a whole number, got float",
    ),
    (
        "bool port",
        RUNBOOK["postgres_creds.py"].replace("'5499'", "True"),
        r"`port` must be a quoted string or a whole number, got bool",
    ),
    ("bad port", RUNBOOK["postgres_creds.py"].replace("'5499'", "'54x'"), r"`port` must be a port number"),
    (
        "number password",
        RUNBOOK["postgres_creds.py"].replace(f"'{SECRET}'", "12345"),
        r"`password` must be a quoted string, got int",
    ),
    ("twice", RUNBOOK["postgres_creds.py"] + f"\npassword = '{SECRET}2'\n", r"`password` is assigned twice"),
    ("empty host", RUNBOOK["postgres_creds.py"].replace("'192.168.32.171'", "''"), r"`host` is empty"),
    ("tuple target", f"username, password = 'bi', '{SECRET}'\n", r"only simple assignments to a name"),
]


@pytest.mark.parametrize(("case", "text", "message"), BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_files_name_file_and_key_never_the_secret(tmp_path, case, text, message):
    with pytest.raises(ConfigError, match=message) as excinfo:
        load(tmp_path, "postgres_creds.py", textwrap.dedent(text))
    assert "postgres_creds.py" in str(excinfo.value)
    assert SECRET not in str(excinfo.value)
    assert excinfo.value.__cause__ is None  # no chained exception carrying the source text


def test_nothing_in_a_file_is_ever_executed(tmp_path):
    marker = tmp_path / "pwned"
    write(tmp_path, "vonigo_creds.py", f"__import__('pathlib').Path({str(marker)!r}).touch()\n")
    with pytest.raises(ConfigError):
        load_connection("vonigo_api", tmp_path)
    write(tmp_path, "vonigo_creds.py", f"username = __import__('pathlib').Path({str(marker)!r}).touch()\n")
    with pytest.raises(ConfigError):
        load_connection("vonigo_api", tmp_path)
    assert not marker.exists()


def test_non_utf8_file(tmp_path):
    (tmp_path / "imap_creds.py").write_bytes(b"imap_username = '\xff'\n")
    with pytest.raises(ConfigError, match="not valid UTF-8"):
        load_connection("bi_imap", tmp_path)


def test_comments_docstrings_and_bom_are_fine(tmp_path):
    (tmp_path / "imap_creds.py").write_text(
        '\ufeff"""BI mailbox."""\n# a comment\nimap_username = "a"  # trailing\nimap_password: str = "b"\n'
    )
    assert parse_literal_assignments(tmp_path / "imap_creds.py") == {
        "imap_username": "a",
        "imap_password": "b",
    }


def test_repr_hides_the_password(tmp_path):
    c = load(tmp_path, "obe_mysql_creds.py", RUNBOOK["obe_mysql_creds.py"])
    assert SECRET not in repr(c)
    assert "***" in repr(c)


def test_secrets_are_kept_verbatim_other_values_are_trimmed(tmp_path):
    """A password may begin or end with a space: stripping it would make the login fail unseen."""
    c = load(
        tmp_path,
        "postgres_creds.py",
        "username = ' bi '\npassword = ' s3cret \\t'\nhost = ' db.internal '\ndbname = 'poc_db'\nport = '5432'\n",
    )
    assert (c.host, c.login, c.password) == ("db.internal", "bi", " s3cret \t")


# Values ast.literal_eval or int() reject with something other than ValueError, or that look like
# digits without being ASCII digits: each is a bad file like any other.
ODD_VALUES = [
    (
        "unhashable dict key",
        "username = {[]: 'x'}\n" + RUNBOOK["postgres_creds.py"].split("\n", 2)[2],
        r"line 1: `username` must be a literal value",
    ),
    (
        "5000-digit port string",
        RUNBOOK["postgres_creds.py"].replace("'5499'", "'" + "9" * 5000 + "'"),
        r"`port` must be a port number",
    ),
    (
        "5000-digit port number",
        RUNBOOK["postgres_creds.py"].replace("'5499'", "0x" + "f" * 5000),
        r"`port` must be a port number",
    ),
    (
        "superscript digit port",
        RUNBOOK["postgres_creds.py"].replace("'5499'", "'²'"),
        r"`port` must be a port number",
    ),
    (
        "arabic-indic digit port",
        RUNBOOK["postgres_creds.py"].replace("'5499'", "'٥٤٣٢'"),
        r"`port` must be a port number",
    ),
    ("deeply nested value", "username = " + "(" * 200_000 + ")" * 200_000 + "\n", r"postgres_creds.py"),
]


@pytest.mark.parametrize(("case", "text", "message"), ODD_VALUES, ids=[c[0] for c in ODD_VALUES])
def test_odd_values_are_reported_like_any_bad_file(tmp_path, case, text, message):
    with pytest.raises(ConfigError, match=message) as excinfo:
        load(tmp_path, "postgres_creds.py", text)
    assert "postgres_creds.py" in str(excinfo.value)
    assert SECRET not in str(excinfo.value)
    assert "9999" not in str(excinfo.value)
    assert excinfo.value.__cause__ is None


def test_an_unreadable_file_is_reported_naming_the_file(tmp_path, monkeypatch):
    write(tmp_path, "postgres_creds.py", RUNBOOK["postgres_creds.py"])

    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_text", denied)
    with pytest.raises(ConfigError, match=r"postgres_creds.py: cannot be read \(Permission denied\)"):
        load_connection("info_portal_postgres", tmp_path)


def test_a_directory_or_a_broken_symlink_is_an_invalid_file_not_a_missing_one(tmp_path):
    (tmp_path / "postgres_creds.py").mkdir()
    with pytest.raises(ConfigError, match=r"postgres_creds.py: is a directory, not a file"):
        load_connection("info_portal_postgres", tmp_path)
    loop = tmp_path / "obe_mysql_creds.py"
    loop.symlink_to(loop)
    with pytest.raises(ConfigError, match=r"obe_mysql_creds.py: is a symbolic link that leads to no file"):
        load_connection("obe_mysql", tmp_path)
    (tmp_path / "vonigo_creds.py").symlink_to(tmp_path / "nowhere.py")
    with pytest.raises(ConfigError, match=r"vonigo_creds.py: is a symbolic link that leads to no file"):
        load_connection("vonigo_api", tmp_path)

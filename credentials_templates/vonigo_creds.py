# Vonigo field-service API -> Airflow connection `vonigo_api`.
username = 'bi.api@example.com'  # Vonigo user name
raw_password = 'change-me'  # the plain password; the client sends its MD5 hash, once
host = 'example.vonigo.com'  # your company's Vonigo host (required to run; the runbook's file lacked it)
# company = 'Vonigo'  # optional: login `company` value, default 'Vonigo'
# scheme = 'https'  # optional: 'http' only for the local test fake
# verify_certificate = True  # optional
# password_is_md5 = False  # optional: True when raw_password holds the lower-case hex MD5 already

# BI e-mail account -> Airflow connection `bi_imap`.
imap_username = 'bi-reports@example.com'  # mailbox login
imap_password = 'change-me'  # mailbox password (an app password where the provider needs one)
# imap_host = 'outlook.office365.com'  # optional: IMAP server, default outlook.office365.com
# imap_port = 993  # optional: default 993 with SSL, 143 without
# imap_ssl = True  # optional: IMAP over TLS, default True
# imap_verify_certificate = True  # optional: False only for a self-signed test server
# imap_folder = 'INBOX'  # optional: default folder for reports without one of their own
# imap_ca_file = '/opt/airflow/credentials/mail-ca.pem'  # optional: trust this CA (private certificate)

"""Extraction of the e-mailed reports of an IMAP mailbox, with a ledger of every attachment."""

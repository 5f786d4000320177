"""The staff console: accounts, sessions and CSRF, the pages, their templates and assets."""

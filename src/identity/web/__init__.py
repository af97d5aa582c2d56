"""The HTML side: i18n, templates, CSRF, security headers, error pages."""

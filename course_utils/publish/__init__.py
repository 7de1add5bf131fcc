"""Publishing: lectures executed, exported to slides and pages, the reading site, browser checks."""

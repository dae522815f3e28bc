# Dates as the API writes them (UTC, ISO 8601 order), and narrow enough that the admin's
# lists show every column at 1280 px: "2025-01-15 12:00" instead of "Jan. 15, 2025, noon".
DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i"

"""Moving whole catalogs as CSV (API.md, "Bulk data"): `import_catalog` and `export_catalog`."""

"""Files in and out: roster imports, spreadsheets, the ledger and report exports,
photos, voice notes and the village QR posters."""

"""The upload page: institution staff sign in once with the institution's key and upload
CSV files of passes, credentials and revocations, with a report of every row."""

"""Read models: each a pure fold over events plus the SQL that stores its rows."""

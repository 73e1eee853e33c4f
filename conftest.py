# Makes the repository root importable (sslcore, pages) for the tests, whichever folder pytest starts in.

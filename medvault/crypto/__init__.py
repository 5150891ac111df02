"""The only package that calls cryptography and argon2-cffi."""

//! Token verification (RS256 over JWKS) and the development identity provider.

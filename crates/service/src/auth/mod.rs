//! Token verification (RS256 over JWKS) and the development identity provider.
//!
//! Production tokens come from Auth0 or another OIDC issuer; local tokens
//! come from [`DevIdentityProvider`]. Both are verified by the same
//! [`TokenVerifier`], which fetches the issuer's JWKS over HTTP.

pub mod dev_identity;
mod verifier;

pub use dev_identity::{DevIdentityProvider, DevTokenRequest, DevTokenResponse};
pub use verifier::{bearer_token, AuthError, AuthSettings, TokenVerifier, VerifiedClaims};

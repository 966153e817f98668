package admin

import (
	"strings"

	"github.com/signet-idp/signet/provider/policy"
	"github.com/signet-idp/signet/storage"
)

// Token endpoint authentication methods a client can be registered with.
const (
	authSecretBasic   = "client_secret_basic"
	authSecretPost    = "client_secret_post"
	authPrivateKeyJWT = storage.TokenAuthPrivateKeyJWT
	authNone          = "none"
)

// maxJWKSLen bounds a JWK Set registered as a file.
const maxJWKSLen = 64 << 10

// tokenAuth is a validated client authentication: the method as stored and
// the keys of a private_key_jwt client.
type tokenAuth struct {
	method  string
	jwksURI string
	jwks    []byte
}

// validateTokenAuth checks --token-auth with --jwks-uri or --jwks-file. A
// secret client (client_secret_basic, the default, or client_secret_post:
// Signet accepts both from such a client) stores no method; a private_key_jwt
// client has exactly one source of keys.
func validateTokenAuth(in AddClientInput) (tokenAuth, error) {
	hasKeys := in.JWKSURI != "" || in.JWKS != ""
	switch in.TokenAuthMethod {
	case "", authSecretBasic, authSecretPost:
		if hasKeys {
			return tokenAuth{}, invalidf("--jwks-uri and --jwks-file are for clients registered with --token-auth private_key_jwt")
		}
		return tokenAuth{}, nil
	case authNone:
		if !in.Public {
			return tokenAuth{}, invalidf("--token-auth none is a public client's: use --public")
		}
		if hasKeys {
			return tokenAuth{}, invalidf("--jwks-uri and --jwks-file are for clients registered with --token-auth private_key_jwt")
		}
		return tokenAuth{}, nil
	case authPrivateKeyJWT:
	default:
		return tokenAuth{}, invalidf("--token-auth %q is not one of %s, %s, %s", in.TokenAuthMethod, authSecretBasic, authSecretPost, authPrivateKeyJWT)
	}
	if in.Public {
		return tokenAuth{}, invalidf("a public client has no credential: --public and --token-auth private_key_jwt exclude each other")
	}
	switch {
	case in.JWKSURI != "" && in.JWKS != "":
		return tokenAuth{}, invalidf("give --jwks-uri or --jwks-file, not both")
	case in.JWKSURI != "":
		if err := policy.ValidateJWKSURI(in.JWKSURI); err != nil {
			return tokenAuth{}, invalidf("%s", err.Error())
		}
		return tokenAuth{method: authPrivateKeyJWT, jwksURI: in.JWKSURI}, nil
	case in.JWKS != "":
		if len(in.JWKS) > maxJWKSLen {
			return tokenAuth{}, invalidf("the JWK Set is larger than %d bytes", maxJWKSLen)
		}
		jwks, err := policy.ParseClientJWKS([]byte(strings.TrimSpace(in.JWKS)))
		if err != nil {
			return tokenAuth{}, invalidf("--jwks-file: %s", err.Error())
		}
		return tokenAuth{method: authPrivateKeyJWT, jwks: jwks}, nil
	}
	return tokenAuth{}, invalidf("--token-auth private_key_jwt needs the client's public keys: --jwks-uri URL or --jwks-file FILE")
}

// tokenAuthMethod is how the client authenticates, for showing.
func tokenAuthMethod(c *storage.Client) string {
	switch {
	case c.Public:
		return authNone
	case c.TokenAuthMethod != "":
		return c.TokenAuthMethod
	}
	return authSecretBasic
}

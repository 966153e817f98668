package load

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// ReferenceConfig configures the storage-less reference server.
type ReferenceConfig struct {
	// Issuer is the reference's own issuer URL (http://host:port).
	Issuer string
	// AccessTokenAlg signs the access tokens and IDTokenAlg the ID tokens:
	// RS256 or ES256, as the provider under test does.
	AccessTokenAlg, IDTokenAlg string
	// ClientID, ClientSecret (empty: a public client) and RedirectURI are the
	// one client it knows, the load tool's.
	ClientID, ClientSecret, RedirectURI string
}

// Reference is the physical limit of a token endpoint on this machine: the
// same HTTP stack, client authentication (SHA-256 of the secret, compared in
// constant time), PKCE S256 check and form and JSON handling as a provider,
// and the same two signatures per answer (an RFC 9068 access token and an ID
// token of Signet's shapes, with signers built once), but nothing stored and
// nothing looked up: codes and refresh tokens are HMAC-sealed claims, so no
// request waits on a disk or another request. signet-load --compare-raw runs
// each scenario against it and the provider in turn.
type Reference struct {
	cfg                  ReferenceConfig
	accessSig, idSig     jose.Signer
	accessAlg, idAlg     string
	jwks                 []byte
	discovery            []byte
	mac                  []byte
	secretHash           [32]byte
	codeLife, accessLife time.Duration
}

// NewReference generates its keys (RSA 2048, P-256) and builds its signers.
func NewReference(cfg ReferenceConfig) (*Reference, error) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	keys := map[string]jose.JSONWebKey{
		"RS256": {Key: rsaKey, KeyID: "ref-rs256", Algorithm: "RS256", Use: "sig"},
		"ES256": {Key: ecKey, KeyID: "ref-es256", Algorithm: "ES256", Use: "sig"},
	}
	signer := func(alg, typ string) (jose.Signer, error) {
		k, ok := keys[alg]
		if !ok {
			return nil, fmt.Errorf("reference: algorithm %q is not RS256 or ES256", alg)
		}
		return jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: k},
			(&jose.SignerOptions{}).WithType(jose.ContentType(typ)).WithHeader("kid", k.KeyID))
	}
	ref := &Reference{cfg: cfg, accessAlg: cfg.AccessTokenAlg, idAlg: cfg.IDTokenAlg,
		mac: make([]byte, 32), secretHash: sha256.Sum256([]byte(cfg.ClientSecret)),
		codeLife: time.Minute, accessLife: 10 * time.Minute}
	rand.Read(ref.mac)
	if ref.accessSig, err = signer(cfg.AccessTokenAlg, "at+jwt"); err != nil {
		return nil, err
	}
	if ref.idSig, err = signer(cfg.IDTokenAlg, "JWT"); err != nil {
		return nil, err
	}
	var set jose.JSONWebKeySet
	for _, k := range keys {
		set.Keys = append(set.Keys, k.Public())
	}
	if ref.jwks, err = json.Marshal(set); err != nil {
		return nil, err
	}
	ref.discovery, err = json.Marshal(map[string]any{
		"issuer": cfg.Issuer, "authorization_endpoint": cfg.Issuer + "/authorize",
		"token_endpoint": cfg.Issuer + "/token", "jwks_uri": cfg.Issuer + "/keys",
		"response_types_supported": []string{"code"}, "code_challenge_methods_supported": []string{"S256"},
		"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
	})
	return ref, err
}

// ServeHTTP serves discovery, the JWKS, /authorize and /token.
func (ref *Reference) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		w.Header().Set("Content-Type", "application/json")
		w.Write(ref.discovery)
	case "/keys":
		w.Header().Set("Content-Type", "application/json")
		w.Write(ref.jwks)
	case "/authorize":
		ref.authorize(w, r)
	case "/token":
		ref.token(w, r)
	default:
		http.NotFound(w, r)
	}
}

// grant is what a sealed code or refresh token carries.
type grant struct {
	Nonce     string `json:"n,omitempty"`
	Challenge string `json:"c,omitempty"`
	Scope     string `json:"s"`
	SID       string `json:"sid"`
	Family    string `json:"f"`
	AuthTime  int64  `json:"at"`
	Expiry    int64  `json:"e"`
	Random    string `json:"r"` // makes every value unique, as a random token is
}

func (ref *Reference) seal(g grant) string {
	g.Random = randomString(16)
	b, _ := json.Marshal(g)
	m := hmac.New(sha256.New, ref.mac)
	m.Write(b)
	return base64.RawURLEncoding.EncodeToString(b) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (ref *Reference) open(s string, now time.Time) (grant, error) {
	var g grant
	body, sig, ok := strings.Cut(s, ".")
	b, err1 := base64.RawURLEncoding.DecodeString(body)
	mac, err2 := base64.RawURLEncoding.DecodeString(sig)
	if !ok || err1 != nil || err2 != nil {
		return g, errors.New("malformed")
	}
	m := hmac.New(sha256.New, ref.mac)
	m.Write(b)
	if !hmac.Equal(m.Sum(nil), mac) || json.Unmarshal(b, &g) != nil || now.Unix() >= g.Expiry {
		return g, errors.New("invalid or expired")
	}
	return g, nil
}

func (ref *Reference) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != ref.cfg.ClientID || q.Get("redirect_uri") != ref.cfg.RedirectURI ||
		q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" {
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	now := time.Now()
	code := ref.seal(grant{Nonce: q.Get("nonce"), Challenge: q.Get("code_challenge"), Scope: q.Get("scope"),
		SID: randomString(16), Family: randomString(16), AuthTime: now.Unix(), Expiry: now.Add(ref.codeLife).Unix()})
	v := url.Values{"code": {code}, "state": {q.Get("state")}, "iss": {ref.cfg.Issuer}}
	http.Redirect(w, r, ref.cfg.RedirectURI+"?"+v.Encode(), http.StatusFound)
}

func tokenError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":%q}`, code)
}

func (ref *Reference) token(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if r.Method != http.MethodPost || r.ParseForm() != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	if ref.cfg.ClientSecret != "" {
		user, pass, ok := r.BasicAuth()
		id, err1 := url.QueryUnescape(user)
		secret, err2 := url.QueryUnescape(pass)
		sum := sha256.Sum256([]byte(secret))
		if !ok || err1 != nil || err2 != nil || id != ref.cfg.ClientID || subtle.ConstantTimeCompare(sum[:], ref.secretHash[:]) != 1 {
			tokenError(w, http.StatusUnauthorized, "invalid_client")
			return
		}
	} else if r.PostForm.Get("client_id") != ref.cfg.ClientID {
		tokenError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	now := time.Now()
	var (
		g   grant
		err error
	)
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		g, err = ref.open(r.PostForm.Get("code"), now)
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		if err != nil || r.PostForm.Get("redirect_uri") != ref.cfg.RedirectURI ||
			base64.RawURLEncoding.EncodeToString(sum[:]) != g.Challenge {
			tokenError(w, http.StatusBadRequest, "invalid_grant")
			return
		}
	case "refresh_token":
		if g, err = ref.open(r.PostForm.Get("refresh_token"), now); err != nil {
			tokenError(w, http.StatusBadRequest, "invalid_grant")
			return
		}
		g.Nonce = ""
	default:
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	resp, err := ref.respond(g, now)
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "server_error")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
}

// respond signs the two tokens of Signet's shapes (provider/token.go).
func (ref *Reference) respond(g grant, now time.Time) (map[string]any, error) {
	const sub = "0123456789abcdef0123456789abcdef"
	at, err := json.Marshal(map[string]any{
		"iss": ref.cfg.Issuer, "sub": sub, "aud": []string{ref.cfg.Issuer},
		"exp": now.Add(ref.accessLife).Unix(), "iat": now.Unix(), "jti": randomString(18),
		"client_id": ref.cfg.ClientID, "scope": g.Scope, "auth_time": g.AuthTime,
		"amr": []string{"pwd"}, "sid": g.SID, "fid": g.Family,
	})
	if err != nil {
		return nil, err
	}
	accessToken, err := signCompact(ref.accessSig, at)
	if err != nil {
		return nil, err
	}
	resp := map[string]any{"access_token": accessToken, "token_type": "Bearer",
		"expires_in": int(ref.accessLife / time.Second), "scope": g.Scope}
	if strings.Contains(" "+g.Scope+" ", " openid ") {
		h := sha256.Sum256([]byte(accessToken))
		verified := true
		claims := map[string]any{
			"iss": ref.cfg.Issuer, "sub": sub, "aud": []string{ref.cfg.ClientID},
			"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "auth_time": g.AuthTime,
			"acr": "urn:signet:acr:pwd", "amr": []string{"pwd"}, "azp": ref.cfg.ClientID,
			"at_hash": base64.RawURLEncoding.EncodeToString(h[:16]), "sid": g.SID,
			"name": "Demo Person", "preferred_username": "demo", "updated_at": g.AuthTime,
			"email": "demo@example.com", "email_verified": &verified,
		}
		if g.Nonce != "" {
			claims["nonce"] = g.Nonce
		}
		b, err := json.Marshal(claims)
		if err != nil {
			return nil, err
		}
		if resp["id_token"], err = signCompact(ref.idSig, b); err != nil {
			return nil, err
		}
	}
	if strings.Contains(" "+g.Scope+" ", " offline_access ") {
		g.Expiry = now.Add(720 * time.Hour).Unix()
		resp["refresh_token"] = ref.seal(g)
	}
	return resp, nil
}

func signCompact(s jose.Signer, payload []byte) (string, error) {
	obj, err := s.Sign(payload)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

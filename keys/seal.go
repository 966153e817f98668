package keys

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/x509"
	"fmt"

	"github.com/signet-idp/signet/storage"
)

// sealer encrypts private keys at rest with AES-256-GCM. The kid is the
// additional data, so a sealed blob cannot be moved to another key's record.
type sealer struct{ aead cipher.AEAD }

func newSealer(kek [32]byte) (*sealer, error) {
	block, err := aes.NewCipher(kek[:])
	if err != nil {
		return nil, fmt.Errorf("keys: cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("keys: gcm: %w", err)
	}
	return &sealer{aead: aead}, nil
}

func (s *sealer) seal(plain []byte, kid string) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("keys: nonce: %w", err)
	}
	return s.aead.Seal(nonce, nonce, plain, []byte(kid)), nil
}

// openDER decrypts a sealed private key to its PKCS #8 DER.
func (s *sealer) openDER(sealed []byte, kid string) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, fmt.Errorf("keys: key %s: corrupted private key record", kid)
	}
	der, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(kid))
	if err != nil {
		return nil, fmt.Errorf("keys: key %s: %w", kid, ErrWrongKEK)
	}
	return der, nil
}

func (s *sealer) open(sealed []byte, kid string) (crypto.Signer, error) {
	der, err := s.openDER(sealed, kid)
	if err != nil {
		return nil, err
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("keys: key %s: corrupted private key: %w", kid, err)
	}
	sg, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("keys: key %s: not a signing key", kid)
	}
	return sg, nil
}

// CheckSealed reports whether kek opens every stored key's private part (an
// error wrapping ErrWrongKEK names the first it does not): what a move to
// another store checks before the servers there depend on it. No key leaves.
func CheckSealed(kek [32]byte, stored []*storage.SigningKey) error {
	sl, err := newSealer(kek)
	if err != nil {
		return err
	}
	for _, k := range stored {
		if len(k.Sealed) == 0 {
			continue // public only: nothing to open
		}
		if _, err := sl.openDER(k.Sealed, k.ID); err != nil {
			return err
		}
	}
	return nil
}

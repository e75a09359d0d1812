package mongostore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
)

// ErrDecrypt is wrapped, beside ErrDecode, by Get and New when a stored
// session cannot be decrypted: it was written without encryption, under a
// key the store no longer has, or it was tampered with. The document is
// left as it is.
var ErrDecrypt = errors.New("mongostore: cannot decrypt stored session")

// envelopeVersion starts every sealed payload, so that a later format can
// be told apart from this one.
const envelopeVersion = 1

// keyIDLength is the length of the key fingerprint in an envelope, which
// picks the key to decrypt with instead of trying each.
const keyIDLength = 8

// A sealer encrypts session data with AES-256-GCM. The envelope is
//
//	version (1 byte) | key ID (8 bytes) | nonce (12 bytes) | ciphertext
//
// where the key ID is the start of the key's SHA-256, and the session ID
// is the additional data, so that data moved to another document does not
// decrypt.
type sealer struct {
	keys []sealKey // the first seals; all open
}

type sealKey struct {
	id   [keyIDLength]byte
	aead cipher.AEAD
}

func newSealer(keys [][]byte) (*sealer, error) {
	if len(keys) == 0 {
		return nil, errors.New("no encryption keys")
	}
	s := &sealer{}
	for i, key := range keys {
		if len(key) != 32 {
			return nil, fmt.Errorf("encryption key %d is %d bytes, not "+
				"the 32 of AES-256", i, len(key))
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(key)
		k := sealKey{aead: aead}
		copy(k.id[:], sum[:])
		if slices.ContainsFunc(s.keys, func(o sealKey) bool {
			return o.id == k.id
		}) {
			return nil, fmt.Errorf("encryption key %d is listed twice", i)
		}
		s.keys = append(s.keys, k)
	}
	return s, nil
}

func (s *sealer) seal(id string, plain []byte) ([]byte, error) {
	k := s.keys[0]
	out := make([]byte, 1+keyIDLength+k.aead.NonceSize(),
		1+keyIDLength+k.aead.NonceSize()+len(plain)+k.aead.Overhead())
	out[0] = envelopeVersion
	copy(out[1:], k.id[:])
	nonce := out[1+keyIDLength:]
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return k.aead.Seal(out, nonce, plain, []byte(id)), nil
}

// open decrypts sealed data and tells whether it was sealed with a key
// other than the first.
func (s *sealer) open(id string, sealed []byte) ([]byte, bool, error) {
	if len(sealed) < 1+keyIDLength || sealed[0] != envelopeVersion {
		return nil, false, fmt.Errorf("%w: not an encrypted session",
			ErrDecrypt)
	}
	var keyID [keyIDLength]byte
	copy(keyID[:], sealed[1:])
	i := slices.IndexFunc(s.keys, func(k sealKey) bool {
		return k.id == keyID
	})
	if i < 0 {
		return nil, false, fmt.Errorf("%w: encrypted with a key the "+
			"store does not have (key ID %x)", ErrDecrypt, keyID)
	}
	k := s.keys[i]
	rest := sealed[1+keyIDLength:]
	if len(rest) < k.aead.NonceSize() {
		return nil, false, fmt.Errorf("%w: truncated", ErrDecrypt)
	}
	nonce, ciphertext := rest[:k.aead.NonceSize()], rest[k.aead.NonceSize():]
	plain, err := k.aead.Open(nil, nonce, ciphertext, []byte(id))
	if err != nil {
		return nil, false, fmt.Errorf("%w: %w", ErrDecrypt, err)
	}
	return plain, i > 0, nil
}

package mongostore

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
)

// decodeCookie returns the session ID in a cookie value, and whether a
// codec other than the first decoded it, so that Save re-signs it.
func (s *MongoStore) decodeCookie(name, value string) ([]byte, bool,
	error) {
	var raw []byte
	if len(s.Codecs) > 0 && s.Codecs[0].Decode(name, value, &raw) == nil {
		return raw, false, nil
	}
	err := securecookie.DecodeMulti(name, value, &raw, s.Codecs...)
	return raw, true, err
}

// checkName refuses session names that cannot be cookie names, before
// anything is written under them.
func checkName(name string) error {
	if name == "" || strings.IndexFunc(name, notTokenRune) >= 0 {
		return fmt.Errorf("%w: %q is not a valid cookie name",
			ErrInvalidName, name)
	}
	return nil
}

// notTokenRune tells which runes cannot be in a cookie name (RFC 9110
// token characters).
func notTokenRune(r rune) bool {
	return r <= ' ' || r >= 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r)
}

func (s *MongoStore) setCookie(w http.ResponseWriter, name, id string,
	opts *sessions.Options, expires, now time.Time) error {
	encoded, err := securecookie.EncodeMulti(name, []byte(id), s.Codecs...)
	if err != nil {
		return fmt.Errorf("mongostore: encode cookie %q: %w", name, err)
	}
	cookieOpts := *opts
	if opts.MaxAge > 0 {
		// The absolute timeout may end the session sooner than MaxAge.
		left := expires.Sub(now) + time.Second - 1
		cookieOpts.MaxAge = max(1, int(left/time.Second))
	}
	cookie := sessions.NewCookie(name, encoded, &cookieOpts)
	if opts.MaxAge > 0 {
		cookie.Expires = expires
	}
	setCookie(w, cookie)
	return nil
}

// setCookie sets c in place of any cookie of the same name set earlier in
// the response, so that saving twice in a request sends one cookie.
func setCookie(w http.ResponseWriter, c *http.Cookie) {
	h := w.Header()
	prefix := c.Name + "="
	h["Set-Cookie"] = slices.DeleteFunc(h["Set-Cookie"], func(v string) bool {
		return strings.HasPrefix(v, prefix)
	})
	http.SetCookie(w, c)
}

// expired returns a copy of opts for a cookie that the browser drops now.
func expired(opts *sessions.Options) *sessions.Options {
	o := *opts
	o.MaxAge = -1
	return &o
}

const idBytes = 32

var idLength = base64.RawURLEncoding.EncodedLen(idBytes)

// newID returns a session ID of 32 random bytes. crypto/rand.Read does not
// fail on the platforms Go supports.
func newID() string {
	b := make([]byte, idBytes)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// validID tells whether id has the shape newID gives, so that IDs the
// store never minted (from another store sharing the keys, say) cause no
// database call.
func validID(id string) bool {
	if len(id) != idLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' ||
			'0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

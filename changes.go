package mongostore

import (
	"bytes"
	"reflect"
	"runtime"
	"time"
	"weak"

	"github.com/gorilla/sessions"
)

// loaded is what New read for a session, kept so that Save can tell
// whether anything changed.
type loaded struct {
	id       string
	data     []byte
	values   map[any]any // a shallow copy of the values data encodes
	expires  time.Time
	created  time.Time
	modified time.Time
	owner    *string // the document's owner field, if it has one

	// What must be written even if nothing changed: a cookie signed
	// with an older key, data sealed with an older encryption key.
	resign, reseal bool
}

// remember keeps what was loaded for session for as long as the session
// lives, and no longer: the key is a weak pointer, and the entry goes when
// the session is collected. The session itself has no room for it, as
// Values belongs to the app and the registry overwrites the session's
// store.
func (s *MongoStore) remember(session *sessions.Session, l *loaded) {
	key := weak.Make(session)
	s.loads.Store(key, l)
	runtime.AddCleanup(session, func(key weak.Pointer[sessions.Session]) {
		s.loads.Delete(key)
	}, key)
}

// loadedState returns what was loaded for session, or nil if it was not
// loaded by this store under its current ID.
func (s *MongoStore) loadedState(session *sessions.Session) *loaded {
	v, ok := s.loads.Load(weak.Make(session))
	if !ok {
		return nil
	}
	l := v.(*loaded)
	if l.id != session.ID {
		return nil
	}
	return l
}

// changed tells whether a session's data must be written: it is new, its
// values differ from those loaded, its owner field is out of date (say,
// WithOwner was turned on since), or it is sealed with an older key.
func (s *MongoStore) changed(from *loaded, data []byte,
	values map[any]any, owner *string) bool {
	if from == nil || from.reseal {
		return true
	}
	// Without WithOwner, an owner field left from before is not ours
	// to keep up to date.
	if s.cfg.ownerKey != "" && ((owner == nil) != (from.owner == nil) ||
		owner != nil && *owner != *from.owner) {
		return true
	}
	if bytes.Equal(data, from.data) {
		return false
	}
	// Equal values may encode differently (gob writes maps in Go's
	// random order), and writing them back would undo another request's
	// change: compare the values themselves.
	was := make(map[any]any, len(values))
	if err := s.cfg.serializer.Deserialize(from.data, was); err != nil {
		return true
	}
	return !reflect.DeepEqual(was, values)
}

// comparePlain compares values with those loaded, key by key, where it
// can without encoding: same is true if the keys are the same and each
// holds the same string, number or boolean; differ is true if a key was
// added or removed, or holds another plain value than before. Other values
// (slices, maps, structs) may have been changed in place, so they are left
// to the comparison of encodings.
func comparePlain(was, values map[any]any) (same, differ bool) {
	if len(was) != len(values) {
		return false, true
	}
	same = true
	for k, v := range values {
		old, ok := was[k]
		switch {
		case !ok:
			return false, true
		case !plain(v) || !plain(old):
			same = false
		case old != v:
			return false, true
		}
	}
	return same, false
}

func plain(v any) bool {
	switch v.(type) {
	case string, bool, int, int8, int16, int32, int64, uint, uint8,
		uint16, uint32, uint64, float32, float64:
		return true
	}
	return false
}

// touchDue tells whether an unchanged session's expiry must be written:
// when it would move by the touch interval or more, by half the session's
// remaining lifetime or more (so a short session cannot lapse while in
// use), or backwards.
func (s *MongoStore) touchDue(stored, expires, now time.Time) bool {
	move := expires.Sub(stored)
	return move < 0 || move >= min(s.cfg.touchInterval, expires.Sub(now)/2)
}

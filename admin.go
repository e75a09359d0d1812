package mongostore

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"reflect"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// SessionInfo describes a stored session, for administration. Its ID is
// as good as the cookie to anyone who can sign cookies: keep it out of
// logs and pages.
type SessionInfo struct {
	ID       string
	Owner    string // empty without WithOwner or an owner value
	Created  time.Time
	Modified time.Time
	Expires  time.Time
	Values   map[any]any
}

const ownerIndex = "owner_1"

func (s *MongoStore) ensureOwnerIndex(ctx context.Context) error {
	if s.cfg.ownerKey == "" {
		return nil
	}
	_, err := s.coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "owner", Value: 1}},
		Options: options.Index().SetName(ownerIndex),
	})
	if err != nil {
		return fmt.Errorf("mongostore: create index %s on %s: %w",
			ownerIndex, s.coll.Name(), err)
	}
	return nil
}

// owner returns the owner recorded for a session with these values, or
// nil for none.
func (s *MongoStore) owner(values map[any]any) *string {
	if s.cfg.ownerKey == "" {
		return nil
	}
	var owner string
	switch v := reflect.ValueOf(values[s.cfg.ownerKey]); v.Kind() {
	case reflect.String:
		owner = v.String()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32,
		reflect.Int64:
		owner = strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32,
		reflect.Uint64:
		owner = strconv.FormatUint(v.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		// JSON brings an integer user ID back as a float64.
		f := v.Float()
		if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return nil
		}
		owner = strconv.FormatInt(int64(f), 10)
	}
	if owner == "" {
		return nil
	}
	return &owner
}

// live matches the sessions whose expires time is still ahead, and adds
// the given conditions.
func live(conds ...bson.E) bson.D {
	filter := bson.D{{Key: "expires",
		Value: bson.D{{Key: "$gt", Value: time.Now()}}}}
	return append(filter, conds...)
}

// Count returns how many live sessions the collection holds; sessions
// whose expires time has passed are not counted, deleted or not.
func (s *MongoStore) Count(ctx context.Context) (int64, error) {
	return s.count(ctx, live())
}

// CountOwner returns how many live sessions owner has. It needs
// WithOwner.
func (s *MongoStore) CountOwner(ctx context.Context,
	owner string) (int64, error) {
	if err := s.needOwner(); err != nil {
		return 0, err
	}
	return s.count(ctx, live(bson.E{Key: "owner", Value: owner}))
}

func (s *MongoStore) count(ctx context.Context, filter bson.D) (int64,
	error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	n, err := s.coll.CountDocuments(ctx, filter)
	if err != nil {
		return 0, fmt.Errorf("mongostore: count sessions: %w", err)
	}
	return n, nil
}

// Delete deletes the session with the given ID, ending it at its next
// request; one already gone is no error.
func (s *MongoStore) Delete(ctx context.Context, id string) error {
	return s.delete(ctx, id)
}

// DeleteOwner deletes every session of owner, expired or not, and returns
// how many it deleted: a password change or "log out everywhere". It needs
// WithOwner.
func (s *MongoStore) DeleteOwner(ctx context.Context,
	owner string) (int64, error) {
	if err := s.needOwner(); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	res, err := s.coll.DeleteMany(ctx, bson.D{{Key: "owner", Value: owner}})
	if err != nil {
		return 0, fmt.Errorf("mongostore: delete sessions of owner: %w",
			err)
	}
	return res.DeletedCount, nil
}

// Sessions iterates over the live sessions, oldest first, with their
// values decoded. A session that cannot be decoded is yielded with its
// error and without values, and the iteration goes on; a database error
// ends it. The store's timeout does not bound the iteration, only ctx.
func (s *MongoStore) Sessions(ctx context.Context) iter.Seq2[SessionInfo,
	error] {
	return s.sessions(ctx, live())
}

// OwnerSessions iterates over the live sessions of owner, as Sessions
// does. It needs WithOwner.
func (s *MongoStore) OwnerSessions(ctx context.Context,
	owner string) iter.Seq2[SessionInfo, error] {
	if err := s.needOwner(); err != nil {
		return func(yield func(SessionInfo, error) bool) {
			yield(SessionInfo{}, err)
		}
	}
	return s.sessions(ctx, live(bson.E{Key: "owner", Value: owner}))
}

func (s *MongoStore) sessions(ctx context.Context,
	filter bson.D) iter.Seq2[SessionInfo, error] {
	return func(yield func(SessionInfo, error) bool) {
		cur, err := s.coll.Find(ctx, filter,
			options.Find().SetSort(bson.D{{Key: "created", Value: 1}}))
		if err != nil {
			yield(SessionInfo{}, fmt.Errorf("mongostore: list sessions: %w",
				err))
			return
		}
		defer cur.Close(context.WithoutCancel(ctx))

		for cur.Next(ctx) {
			// Next serves a fetched batch without asking ctx.
			if err := ctx.Err(); err != nil {
				yield(SessionInfo{}, fmt.Errorf("mongostore: list "+
					"sessions: %w", err))
				return
			}
			if !yield(s.describe(cur.Current)) {
				return
			}
		}
		if err := cur.Err(); err != nil {
			yield(SessionInfo{}, fmt.Errorf("mongostore: list sessions: %w",
				err))
		}
	}
}

// describe decodes a stored session for Sessions.
func (s *MongoStore) describe(raw bson.Raw) (SessionInfo, error) {
	// The ID goes with the error too, so that a bad session can be
	// deleted.
	id, _ := raw.Lookup("_id").StringValueOK()
	info := SessionInfo{ID: id}
	doc, err := decodeDocument(raw)
	if err != nil {
		return info, err
	}
	if doc.Owner != nil {
		info.Owner = *doc.Owner
	}
	info.Created, info.Modified, info.Expires = doc.Created, doc.Modified,
		doc.Expires
	if info.Values, _, _, err = s.values(id, doc.Data); err != nil {
		return info, fmt.Errorf("%w: %w", ErrDecode, err)
	}
	return info, nil
}

// ErrNoOwner is returned by the owner methods of a store made without
// WithOwner.
var ErrNoOwner = errors.New("mongostore: the store records no owners " +
	"(see WithOwner)")

func (s *MongoStore) needOwner() error {
	if s.cfg.ownerKey == "" {
		return ErrNoOwner
	}
	return nil
}

package mongostore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Expiry is how expired sessions leave the collection. Loads never depend
// on it: a session whose expires time has passed is treated as missing
// even while its document is still stored.
type Expiry int

const (
	// ExpiryNative lets the server delete expired documents through a TTL
	// index on expires. Servers without TTL indexes (FerretDB v1, Azure
	// Cosmos DB) make the store fall back to ExpirySweep, and say so once
	// through the logger.
	ExpiryNative Expiry = iota

	// ExpirySweep runs a goroutine that deletes expired documents every
	// sweep interval, backed by a plain index on expires.
	ExpirySweep

	// ExpiryDisabled creates no index and runs no goroutine: expired
	// documents stay until something else removes them.
	ExpiryDisabled
)

func (e Expiry) String() string {
	switch e {
	case ExpiryNative:
		return "native"
	case ExpirySweep:
		return "sweep"
	case ExpiryDisabled:
		return "disabled"
	}
	return fmt.Sprintf("Expiry(%d)", int(e))
}

const expiresIndex = "expires_1"

// Server error codes that mean TTL indexes are not to be had.
const (
	codeCommandNotSupported = 115
	codeNotImplemented      = 238
	codeBadValue            = 2
	codeCannotCreateIndex   = 67
)

// Server error codes that the user can fix.
const (
	codeUnauthorized      = 13
	codeIndexOptsConflict = 85
	codeIndexKeysConflict = 86
)

// ensureExpiry prepares the collection for the configured expiry mode and
// returns the mode in force, which differs from the configured one when
// the server has no TTL indexes.
func (s *MongoStore) ensureExpiry(ctx context.Context) (Expiry, error) {
	switch s.cfg.expiry {
	case ExpiryDisabled:
		return ExpiryDisabled, nil
	case ExpirySweep:
		return ExpirySweep, s.ensureIndex(ctx, false)
	}

	err := s.ensureIndex(ctx, true)
	if err == nil || !ttlUnsupported(err) {
		return ExpiryNative, err
	}
	if err := s.ensureIndex(ctx, false); err != nil {
		return ExpirySweep, err
	}
	s.logger().Warn("mongostore: the server does not support TTL indexes;"+
		" sweeping expired sessions instead",
		"collection", s.coll.Name(),
		"interval", s.cfg.sweepInterval,
		"cause", err)
	return ExpirySweep, nil
}

// ensureIndex creates the index on expires; creating an index that exists
// with the same options is a no-op on the server. Because expires holds an
// absolute time, the TTL index expires documents at that time exactly and
// never has to change when MaxAge does.
func (s *MongoStore) ensureIndex(ctx context.Context, ttl bool) error {
	opts := options.Index().SetName(expiresIndex)
	if ttl {
		opts.SetExpireAfterSeconds(0)
	}
	_, err := s.coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "expires", Value: 1}},
		Options: opts,
	})
	switch {
	case ttl && ttlUnsupported(err):
		return err
	case !ttl && hasCode(err, codeIndexOptsConflict):
		// A TTL index on expires serves a sweeping store as well as a
		// plain one, as when instances of both kinds share a collection.
		if s.checkIndex(ctx, false) == nil {
			return nil
		}
		return s.indexConflict(err)
	case hasCode(err, codeIndexOptsConflict, codeIndexKeysConflict):
		return s.indexConflict(err)
	case hasCode(err, codeUnauthorized):
		return fmt.Errorf("mongostore: create index %s on %s: %w (grant"+
			" the user the createIndex action on the collection, or"+
			" create the index yourself and pass"+
			" WithExpiry(ExpiryDisabled))", expiresIndex, s.coll.Name(), err)
	case err != nil:
		return fmt.Errorf("mongostore: create index %s on %s: %w",
			expiresIndex, s.coll.Name(), err)
	}
	return s.checkIndex(ctx, ttl)
}

// indexSpec is what the store reads back of an index.
type indexSpec struct {
	Name    string        `bson:"name"`
	Key     bson.Raw      `bson:"key"`
	TTL     bson.RawValue `bson:"expireAfterSeconds"`
	Unique  bool          `bson:"unique"`
	Sparse  bool          `bson:"sparse"`
	Partial bson.Raw      `bson:"partialFilterExpression"`
}

// errIndexMismatch is the cause reported when a server accepted the index
// but holds another under its name, as some compatible servers do instead
// of answering with a conflict.
var errIndexMismatch = errors.New("the existing index differs")

// checkIndex reads the index back: a unique or partial index on expires
// would make sessions collide or escape expiry.
func (s *MongoStore) checkIndex(ctx context.Context, ttl bool) error {
	cur, err := s.coll.Indexes().List(ctx)
	if err != nil {
		return fmt.Errorf("mongostore: list indexes of %s: %w",
			s.coll.Name(), err)
	}
	var specs []indexSpec
	if err := cur.All(ctx, &specs); err != nil {
		return fmt.Errorf("mongostore: list indexes of %s: %w",
			s.coll.Name(), err)
	}
	for _, spec := range specs {
		if spec.Name != expiresIndex {
			continue
		}
		if spec.fits(ttl) {
			return nil
		}
		return s.indexConflict(fmt.Errorf("%w: key %s, unique %v,"+
			" sparse %v, partial %v, expireAfterSeconds %v",
			errIndexMismatch, spec.Key, spec.Unique, spec.Sparse,
			spec.Partial != nil, spec.TTL))
	}
	return fmt.Errorf("mongostore: the server accepted index %s on %s"+
		" but does not list it", expiresIndex, s.coll.Name())
}

// fits tells whether the index serves the store: ascending on expires
// alone, and with a TTL of 0 where the server is to expire documents.
func (spec indexSpec) fits(ttl bool) bool {
	elems, err := spec.Key.Elements()
	if err != nil || len(elems) != 1 || elems[0].Key() != "expires" {
		return false
	}
	if dir, ok := elems[0].Value().AsInt64OK(); !ok || dir != 1 {
		return false
	}
	if spec.Unique || spec.Sparse || spec.Partial != nil {
		return false
	}
	if !ttl {
		return true
	}
	after, ok := spec.TTL.AsInt64OK()
	return ok && after == 0
}

func (s *MongoStore) indexConflict(err error) error {
	return fmt.Errorf("mongostore: index %s on %s: %w (an index by that"+
		" name or on expires exists with other options: drop it and let"+
		" the store create its own, or pass WithExpiry(ExpiryDisabled)"+
		" to manage expiry yourself)", expiresIndex, s.coll.Name(), err)
}

// ttlUnsupported tells whether the server refused a TTL index because it
// has none, rather than for a reason the user can fix. FerretDB v1 answers
// NotImplemented; Cosmos DB answers BadValue or CannotCreateIndex with a
// message about expireAfterSeconds.
func ttlUnsupported(err error) bool {
	if hasCode(err, codeNotImplemented, codeCommandNotSupported) {
		return true
	}
	if !hasCode(err, codeBadValue, codeCannotCreateIndex) {
		return false
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "expireafterseconds") ||
		strings.Contains(msg, "ttl")
}

func hasCode(err error, codes ...int) bool {
	var se mongo.ServerError
	if !errors.As(err, &se) {
		return false
	}
	for _, c := range codes {
		if se.HasErrorCode(c) {
			return true
		}
	}
	return false
}

// sweeper deletes expired documents in the background until stopped.
type sweeper struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (s *MongoStore) startSweeper() *sweeper {
	ctx, cancel := context.WithCancel(context.Background())
	sw := &sweeper{cancel: cancel}
	sw.wg.Add(1)
	go func() {
		defer sw.wg.Done()
		s.sweepLoop(ctx)
	}()
	return sw
}

// stop ends the loop and waits for it, so that no sweep is in flight once
// Close returns.
func (sw *sweeper) stop() {
	sw.cancel()
	sw.wg.Wait()
}

func (s *MongoStore) sweepLoop(ctx context.Context) {
	t := time.NewTimer(jitter(s.cfg.sweepInterval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.logger().Error("mongostore: sweep failed",
				"collection", s.coll.Name(), "error", err)
		}
		t.Reset(jitter(s.cfg.sweepInterval))
	}
}

// jitter spreads d over [0.75d, 1.25d) so that app instances started
// together do not sweep in lockstep.
func jitter(d time.Duration) time.Duration {
	return d*3/4 + rand.N(d/2+1)
}

// Sweep deletes the sessions whose expires time has passed and returns how
// many it deleted. The sweeper calls it on its own; call it directly to
// clean up now, whatever the expiry mode.
func (s *MongoStore) Sweep(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	res, err := s.coll.DeleteMany(ctx, bson.D{{Key: "expires",
		Value: bson.D{{Key: "$lte", Value: time.Now()}}}})
	if err != nil {
		return 0, fmt.Errorf("mongostore: sweep expired sessions: %w", err)
	}
	return res.DeletedCount, nil
}

package mongostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// document is a session as stored in the collection.
type document struct {
	ID       string    `bson:"_id"`
	Data     []byte    `bson:"data"`
	Expires  time.Time `bson:"expires"`
	Modified time.Time `bson:"modified"`
	Created  time.Time `bson:"created"`
	Owner    *string   `bson:"owner,omitempty"`
}

// load fetches a live session document, or nil if there is none. It asks
// by _id alone and checks expiry here: that works the same on every
// server, and a lookup by _id is the cheapest query there is.
func (s *MongoStore) load(ctx context.Context, id string) (*document,
	error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()

	raw, err := s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mongostore: load session: %w", err)
	}
	doc, err := decodeDocument(raw)
	if err != nil {
		return nil, err
	}

	now := time.Now()
	if !doc.Expires.After(now) {
		return nil, nil
	}
	if s.cfg.absoluteTimeout > 0 &&
		!doc.Created.Add(s.cfg.absoluteTimeout).After(now) {
		return nil, nil
	}
	return doc, nil
}

// decodeDocument reads a stored session, which something other than this
// store may have written or damaged. Its Data is the payload of the data
// field: binary data, or the bytes of an embedded document.
func decodeDocument(raw bson.Raw) (*document, error) {
	// One pass over the fields, without reflection: this runs on every
	// load.
	elems, err := raw.Elements()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecode, err)
	}
	doc := &document{}
	var data bson.RawValue
	for _, e := range elems {
		v := e.Value()
		switch key := e.Key(); key {
		case "_id":
			doc.ID, _ = v.StringValueOK()
		case "data":
			data = v
		case "owner":
			if owner, ok := v.StringValueOK(); ok {
				doc.Owner = &owner
			}
		case "expires", "created", "modified":
			ms, ok := v.DateTimeOK()
			if !ok {
				return nil, fmt.Errorf("%w: the %s field is of BSON type "+
					"%v, not a date", ErrDecode, key, v.Type)
			}
			t := time.UnixMilli(ms).UTC()
			switch key {
			case "expires":
				doc.Expires = t
			case "created":
				doc.Created = t
			default:
				doc.Modified = t
			}
		}
	}
	if doc.Expires.IsZero() {
		return nil, fmt.Errorf("%w: the document has no expires field",
			ErrDecode)
	}

	switch data.Type {
	case bson.TypeBinary:
		// Binary, unlike BinaryOK, panics on a malformed value.
		_, payload, ok := data.BinaryOK()
		if !ok {
			return nil, fmt.Errorf("%w: the data field is malformed",
				ErrDecode)
		}
		doc.Data = payload
	case bson.TypeEmbeddedDocument:
		doc.Data = data.Value
	case 0:
		return nil, fmt.Errorf("%w: the document has no data field",
			ErrDecode)
	default:
		return nil, fmt.Errorf("%w: the data field is of BSON type %v, "+
			"not binary or a document", ErrDecode, data.Type)
	}
	return doc, nil
}

// dataValue is what the data field holds for a session's encoded values:
// sealed, if the store encrypts; an embedded document, for serializers
// that make one; else binary data.
func (s *MongoStore) dataValue(id string, data []byte) (bson.RawValue,
	error) {
	if s.cfg.cipher != nil {
		sealed, err := s.cfg.cipher.seal(id, data)
		if err != nil {
			return bson.RawValue{}, fmt.Errorf("mongostore: encrypt "+
				"session: %w", err)
		}
		data = sealed
	} else if _, ok := s.cfg.serializer.(documentMaker); ok {
		return bson.RawValue{Type: bson.TypeEmbeddedDocument,
			Value: data}, nil
	}
	return bson.RawValue{Type: bson.TypeBinary,
		Value: bsoncore.AppendBinary(nil, bson.TypeBinaryGeneric, data)}, nil
}

// A documentMaker is a Serializer whose output is a BSON document, kept as
// an embedded document so that people can read and query it.
type documentMaker interface {
	Serializer
	makesDocument()
}

// values decodes a stored data payload, returning the values, their
// encoding, and whether they were sealed with an older key.
func (s *MongoStore) values(id string, payload []byte) (map[any]any,
	[]byte, bool, error) {
	data, oldSeal, err := s.open(id, payload)
	if err != nil {
		return nil, nil, false, err
	}
	values := make(map[any]any)
	if err := s.cfg.serializer.Deserialize(data, values); err != nil {
		return nil, nil, false, err
	}
	return values, data, oldSeal, nil
}

// open returns the encoded values from a stored data payload, decrypting
// it if the store encrypts, and whether it was sealed with an older key.
func (s *MongoStore) open(id string, payload []byte) ([]byte, bool,
	error) {
	if s.cfg.cipher == nil {
		return payload, false, nil
	}
	return s.cfg.cipher.open(id, payload)
}

func (s *MongoStore) insert(ctx context.Context, doc bson.D) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	if _, err := s.coll.InsertOne(ctx, doc); err != nil {
		return fmt.Errorf("mongostore: insert session: %w", err)
	}
	return nil
}

// update sets fields of a session that must still exist; without an
// upsert, a document deleted meanwhile stays deleted. With optimistic
// concurrency it also requires the version that was loaded.
func (s *MongoStore) update(ctx context.Context, id string, from *loaded,
	set bson.D, unset ...string) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	filter := bson.D{{Key: "_id", Value: id}}
	checked := s.cfg.optimistic && from != nil
	if checked {
		filter = append(filter, bson.E{Key: "modified", Value: from.modified})
	}
	change := bson.D{{Key: "$set", Value: set}}
	if len(unset) > 0 {
		fields := bson.D{}
		for _, f := range unset {
			fields = append(fields, bson.E{Key: f, Value: ""})
		}
		change = append(change, bson.E{Key: "$unset", Value: fields})
	}

	res, err := s.coll.UpdateOne(ctx, filter, change)
	if err != nil {
		return fmt.Errorf("mongostore: update session: %w", err)
	}
	if res.MatchedCount == 1 {
		return nil
	}
	if !checked {
		return ErrSessionGone
	}

	// The version did not match: changed, or deleted meanwhile.
	n, err := s.coll.CountDocuments(ctx, bson.D{{Key: "_id", Value: id}})
	switch {
	case err != nil:
		return fmt.Errorf("mongostore: update session: %w", err)
	case n == 0:
		return ErrSessionGone
	}
	return ErrConflict
}

func (s *MongoStore) delete(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	_, err := s.coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	if err != nil {
		return fmt.Errorf("mongostore: delete session: %w", err)
	}
	return nil
}

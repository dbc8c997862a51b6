package fsm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// Exactly-once commands: the results of commands with a dedup_id, kept by
// command time. dedupBucket maps a dedup_id to its command's timestamp (8
// bytes) and encoded result; dedupByTime orders them by that timestamp
// (timestamp + id → nothing) for expiry.
const (
	dedupBucket = "dedup"
	dedupByTime = "dedup/time"
	// DedupWindow is how long, in command time, a dedup_id is remembered:
	// far longer than any retry (a node retries a write for at most its
	// client's deadline, 15 s).
	DedupWindow = 10 * time.Minute
	// dedupPrunePerCommand bounds the expired records one command removes,
	// so that no command pays for a burst of old ones at once.
	dedupPrunePerCommand = 64
)

// dedupResult returns the result remembered for a command's dedup_id, or
// nil. A command reusing a dedup_id for another request (both
// fingerprints known and different) gets KEY_REUSED instead: it must not
// take effect, and the first request's answer is not its answer.
func dedupResult(j *journal, cmd *pb.Command) (*pb.Result, error) {
	id := cmd.GetDedupId()
	if id == "" {
		return nil, nil
	}
	return decodeRemembered(id, j.get(dedupBucket, []byte(id)), cmd.GetDedupFingerprint())
}

// Remembered is what applying a command with this dedup_id and request
// fingerprint would answer without taking effect again, because a command
// with that id was applied already: its result, or KEY_REUSED. nil when no
// such command was applied (or its record has expired). A handler asks
// before judging a retried request against the state its first attempt
// left: a retried delete finds nothing left to delete, but must get the
// first attempt's answer.
func (r *Reader) Remembered(dedupID string, fingerprint []byte) (*pb.Result, error) {
	if dedupID == "" {
		return nil, nil
	}
	return decodeRemembered(dedupID, r.bucket(dedupBucket).Get([]byte(dedupID)), fingerprint)
}

func decodeRemembered(id string, v, fp []byte) (*pb.Result, error) {
	if v == nil {
		return nil, nil
	}
	res := &pb.Result{}
	if len(v) < 8 || proto.Unmarshal(v[8:], res) != nil {
		return nil, fmt.Errorf("dedup record %q is damaged", id)
	}
	if prevFP := res.GetDedupFingerprint(); len(prevFP) > 0 && len(fp) > 0 && !bytes.Equal(prevFP, fp) {
		return &pb.Result{Code: pb.Result_KEY_REUSED,
			Message: "this idempotency key was used for a different request within " + DedupWindow.String()}, nil
	}
	res.DedupFingerprint = nil
	return res, nil
}

// rememberResult records a command's result under its dedup_id and drops
// records older than DedupWindow before the command's time.
func rememberResult(j *journal, cmd *pb.Command, res *pb.Result) error {
	id := cmd.GetDedupId()
	if id == "" {
		return nil
	}
	kept := res
	if fp := cmd.GetDedupFingerprint(); len(fp) > 0 {
		kept = proto.CloneOf(res)
		kept.DedupFingerprint = fp
	}
	enc, err := marshalOpts.Marshal(kept)
	if err != nil {
		return err
	}
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(cmd.GetTimestamp()))
	if err := j.put(dedupBucket, []byte(id), append(ts[:], enc...)); err != nil {
		return err
	}
	if err := j.put(dedupByTime, append(ts[:], id...), []byte{}); err != nil {
		return err
	}
	cutoff := cmd.GetTimestamp() - int64(DedupWindow)
	if cutoff <= 0 {
		return nil
	}
	c := j.bucket(dedupByTime).Cursor()
	var expired [][]byte
	for k, _ := c.First(); k != nil && len(expired) < dedupPrunePerCommand; k, _ = c.Next() {
		if len(k) < 8 || int64(binary.BigEndian.Uint64(k[:8])) >= cutoff {
			break
		}
		expired = append(expired, append([]byte(nil), k...))
	}
	for _, k := range expired {
		if err := j.delete(dedupByTime, k); err != nil {
			return err
		}
		// A later command with the same id (a reuse after expiry) has its
		// own time entry; only delete the record if it is this one's.
		if v := j.get(dedupBucket, k[8:]); len(v) >= 8 && string(v[:8]) == string(k[:8]) {
			if err := j.delete(dedupBucket, k[8:]); err != nil {
				return err
			}
		}
	}
	return nil
}

package dbx

import (
	"context"
	"errors"
	"time"

	"github.com/sethvargo/go-retry"
)

// errStillBusy is what retryBusy returns when the busy timeout ran out.
var errStillBusy = errors.New("dbx: still busy at the busy timeout")

// retryBusy calls try until it is done, retrying while it reports busy
// (another process holds the file, or the write intent) with a jittered
// backoff that doubles from first up to most, for timeout at most: then it
// returns errStillBusy, or the context's error if ctx ended first. It returns
// how long it tried, and try's error if try fails otherwise.
func retryBusy(ctx context.Context, timeout, first, most time.Duration, try func() (busy bool, err error)) (time.Duration, error) {
	start := time.Now()
	backoff := retry.WithMaxDuration(timeout,
		retry.WithCappedDuration(most, retry.WithJitterPercent(50, retry.NewExponential(first))))
	err := retry.Do(ctx, backoff, func(context.Context) error {
		busy, err := try()
		if busy {
			return retry.RetryableError(errStillBusy)
		}
		return err
	})
	return time.Since(start), err
}

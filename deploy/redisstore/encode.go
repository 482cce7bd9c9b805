package redisstore

import (
	"encoding/json"
	"sync"

	"deploybot/deploy"
)

// stepCache remembers the JSON of steps recently encoded, by value. A
// transition changes a step or two of a run: the document written encodes
// the others as they were (encoding/json's reflection over every step was
// most of the cost of writing a run). A step is looked up by its whole
// value (its By by pointer: runs share the actors of the steps a Clone did
// not change, and never modify one), so a hit is always the same JSON.
type stepCache struct {
	mu sync.Mutex // mu protects cur and old
	// cur holds the steps encoded lately; when it is full it becomes old,
	// and a step found in old moves back to cur.
	cur, old map[deploy.StepRun][]byte
	bytes    int // the JSON held in cur
}

// maxCachedSteps and maxCachedStepBytes (their JSON) bound each generation
// of the cache; a step whose JSON is larger than maxCachedStep (an
// automated step with its output) is encoded every time.
const (
	maxCachedSteps     = 8192
	maxCachedStepBytes = 4 << 20
	maxCachedStep      = 1024
)

func newStepCache() *stepCache { return &stepCache{cur: map[deploy.StepRun][]byte{}} }

func (c *stepCache) step(s deploy.StepRun) ([]byte, error) {
	c.mu.Lock()
	raw, ok := c.cur[s]
	if !ok {
		if raw, ok = c.old[s]; ok {
			c.putLocked(s, raw)
		}
	}
	c.mu.Unlock()
	if ok {
		return raw, nil
	}
	raw, err := json.Marshal(s)
	if err != nil || len(raw) > maxCachedStep {
		return raw, err
	}
	c.mu.Lock()
	c.putLocked(s, raw)
	c.mu.Unlock()
	return raw, nil
}

func (c *stepCache) putLocked(s deploy.StepRun, raw []byte) {
	if len(c.cur) >= maxCachedSteps || c.bytes+len(raw) > maxCachedStepBytes {
		c.old, c.cur, c.bytes = c.cur, make(map[deploy.StepRun][]byte, len(c.cur)), 0
	}
	c.cur[s] = raw
	c.bytes += len(raw)
}

// runHead is a run as stored in its "doc" field (see runDoc) without its
// phases, which encodeRun splices in.
type runHead struct {
	*deploy.Run
	// Runbook and Phases hide the run's own fields of those names.
	Runbook *struct{} `json:"runbook,omitempty"`
	Phases  *struct{} `json:"phases,omitempty"`
}

// phaseHead is a phase without its steps.
type phaseHead struct {
	*deploy.PhaseRun
	Steps *struct{} `json:"steps,omitempty"`
}

// encodeRun returns the run's document, as json.Marshal(runDoc{Run: r})
// would encode it (the phases last), with the steps' JSON from the cache.
func (c *stepCache) encodeRun(r *deploy.Run) ([]byte, error) {
	head, err := json.Marshal(runHead{Run: r})
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(head)+256*len(r.Phases)+2048)
	out = append(out, head[:len(head)-1]...) // without the closing brace
	if len(head) > 2 {
		out = append(out, ',')
	}
	out = append(out, `"phases":`...)
	if r.Phases == nil {
		out = append(out, "null"...)
		return append(out, '}'), nil
	}
	out = append(out, '[')
	for i := range r.Phases {
		p := &r.Phases[i]
		if i > 0 {
			out = append(out, ',')
		}
		ph, err := json.Marshal(phaseHead{PhaseRun: p})
		if err != nil {
			return nil, err
		}
		out = append(out, ph[:len(ph)-1]...)
		if len(ph) > 2 {
			out = append(out, ',')
		}
		out = append(out, `"steps":`...)
		if p.Steps == nil {
			out = append(out, "null"...)
		} else {
			out = append(out, '[')
			for j, s := range p.Steps {
				if j > 0 {
					out = append(out, ',')
				}
				raw, err := c.step(s)
				if err != nil {
					return nil, err
				}
				out = append(out, raw...)
			}
			out = append(out, ']')
		}
		out = append(out, '}')
	}
	out = append(out, ']', '}')
	return out, nil
}

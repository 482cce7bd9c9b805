// Package prometheus is the `prometheus` adapter: it runs an instant PromQL
// query against GET /api/v1/query and passes when every returned value lies
// within min and max and, with baseline_ratio, within that ratio of the same
// query evaluated at the run's start (Vars.Started, the API's `time` parameter).
// It is stateless: the baseline is asked of Prometheus, not remembered.
//
// It speaks the HTTP API directly and must not import the Prometheus client
// libraries, the engine (deploy), the chat side (bot) or other adapters.
package prometheus

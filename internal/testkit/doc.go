// Package testkit holds what tests across deploybot share to run against
// real parts instead of mocks. This package starts one real redis-server per
// test binary (Redis, Main) and hands each test its own key prefix; the fake
// chat platforms and the browser harness live in its subpackages.
//
// The shared server is the package's only package-level state (see Redis).
// testkit is imported by tests only; it must not import any deploybot
// package, so every package can use it without an import cycle.
package testkit

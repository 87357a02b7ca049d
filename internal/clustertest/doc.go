// Package clustertest holds the multi-process cluster tests of Herald: it
// builds the herald binary, runs several "herald serve" processes on one
// Redis (and behind nginx), kills nodes and Redis mid-stream, and checks
// that every subscriber receives every update it matches exactly once and
// in order. It has no code outside its tests.
package clustertest

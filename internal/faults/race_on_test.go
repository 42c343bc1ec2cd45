//go:build race

package faults

// raceBuild makes the binary under test race-checked too when the tests are.
const raceBuild = true

//go:build race

package granny

const raceEnabled = true

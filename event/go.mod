module github.com/tally-dev/tally/event

go 1.26.0

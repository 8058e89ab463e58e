module github.com/tally-dev/tally/processor

go 1.26.0

require github.com/tally-dev/tally/event v0.0.0

replace github.com/tally-dev/tally/event => ../event

// LocusPasses

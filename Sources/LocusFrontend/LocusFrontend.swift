// LocusFrontend

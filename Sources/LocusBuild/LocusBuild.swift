// LocusBuild

// LocusSpec

// LocusReference

// LocusIR

  // positions j of flag with flag[j] == value, in increasing order (the groups sampled centered
  // or non-centered, from the per-group `centered` data flag)
  array[] int which_equal(array[] int flag, int value) {
    int n = 0;
    for (f in flag) {
      n += f == value;
    }
    array[n] int positions = rep_array(0, n);
    int k = 1;
    for (j in 1:size(flag)) {
      if (flag[j] == value) {
        positions[k] = j;
        k += 1;
      }
    }
    return positions;
  }

  // for model/exam_likelihood.stan (after transformed_data/exam_standardise.stan)
  // Each pupil's school part, a_std[school, 1] + a_std[school, 2] * l + a_std[school, 3] * vr1, as
  // one sparse N x 3J matrix (compressed rows: values school_w, columns school_v, row starts
  // school_u) times to_vector(a_std); zeros are left out.
  int school_nonzero = 0;
  for (i in 1:N) school_nonzero += 1 + (l[i] != 0) + (vr1[i] != 0);
  vector[school_nonzero] school_w;
  array[school_nonzero] int school_v;
  array[N + 1] int school_u;
  {
    int k = 1;
    for (i in 1:N) {
      vector[3] row = [1, l[i], vr1[i]]';
      school_u[i] = k;
      for (j in 1:3) {
        if (row[j] != 0) {
          school_w[k] = row[j];
          school_v[k] = (j - 1) * J + school[i];
          k += 1;
        }
      }
    }
    school_u[N + 1] = k;
  }
  // the distinct values of l (lrt takes a few dozen) and each pupil's, so that the residual
  // precisions exp(theta + phi_std * l) are computed once per value
  array[N] int l_group;
  int n_l = 0;
  {
    array[N] int by_l = sort_indices_asc(l);
    for (k in 1:N) {
      n_l += k == 1 || l[by_l[k]] != l[by_l[k - 1]];
      l_group[by_l[k]] = n_l;
    }
  }
  vector[n_l] l_value;
  l_value[l_group] = l;
  real sum_l = sum(l);

/* placeholder, replaced by the kernel library */

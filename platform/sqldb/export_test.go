package sqldb

import "context"

// MigratePlatformTo applies the platform's migrations up to version only.
func (db *DB) MigratePlatformTo(ctx context.Context, version int64) error {
	p, err := db.platformProvider()
	if err != nil {
		return err
	}
	_, err = p.UpTo(ctx, version)
	return err
}

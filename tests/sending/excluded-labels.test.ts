import { describe, expect, it } from 'vitest'
import { excludedLabelGroups, matchExclusion } from '../../src/shared/sending/excluded-labels.ts'

// The segment grammar of upstream-database.md §9.2 on the excluded side. Upstream's live check
// read only a non-empty array of plain items (spec §8.1 #5).

describe('excludedLabelGroups', () => {
  it('reads every form of `excluded`', () => {
    expect(excludedLabelGroups({ excluded: { id: 'A', since: 1 } })).toEqual([['A']])
    expect(excludedLabelGroups({ excluded: [{ id: 'A' }, { id: 'B' }] })).toEqual([['A'], ['B']])
    expect(excludedLabelGroups({ excluded: [{ id: 'A' }, [{ id: 'B' }, { id: 'C', since: 5 }]] })).toEqual([['A'], [
      'B',
      'C',
    ]])
  })

  it('finds nothing to check in absent, empty, null or malformed forms', () => {
    for (
      const segments of [null, undefined, 'x', [], {}, { excluded: null }, { excluded: [] }, {
        excluded: ['A', 3, [], [null]],
      }]
    ) {
      expect(excludedLabelGroups(segments)).toEqual([])
    }
  })
})

describe('matchExclusion', () => {
  it('matches a single label, or an AND group only when all of it is present', () => {
    expect(matchExclusion([['A']], ['X', 'A'])).toEqual(['A'])
    expect(matchExclusion([['B', 'C']], ['B'])).toBeNull()
    expect(matchExclusion([['B', 'C']], ['C', 'B'])).toEqual(['B', 'C'])
    expect(matchExclusion([], ['A'])).toBeNull()
  })
})

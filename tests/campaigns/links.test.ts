import { describe, expect, it } from 'vitest'
import { useDubFake } from '../support/dub-fake.ts'
import { campaignRow, createCampaign, createLabel, latestCampaign } from '../support/factories/campaigns.ts'
import { futureSeconds, useCampaignApi } from './harness.ts'

// Campaign texts go out with their https links shortened through Dub, as upstream (§3.3); a Dub
// failure leaves the links long and never fails the request.

const { db, api } = useCampaignApi()
const dub = useDubFake()

describe('link shortening of campaign texts', () => {
  it('stores the shortened texts of a new campaign', async () => {
    const label = await createLabel(db.sql)
    dub.willShorten('https://example.com/vote', 'https://dub.sh/vote')
    const { body } = await api({ env: dub.env }).post('/', {
      firstMessage: 'Where to vote: https://example.com/vote.',
      secondMessage: 'Again: https://example.com/vote',
      runAt: futureSeconds(),
      segments: { included: { id: label.id } },
    })
    expect(body).toMatchObject({
      firstMessage: 'Where to vote: https://dub.sh/vote.',
      secondMessage: 'Again: https://dub.sh/vote',
    })
    expect(await latestCampaign(db.sql)).toMatchObject({ first_message: 'Where to vote: https://dub.sh/vote.' })
  })

  it('shortens only the texts an edit changes', async () => {
    const id = await createCampaign(db.sql, {
      firstMessage: 'Old https://example.com/old',
      runAt: new Date(Date.now() + 86400_000),
    })
    dub.willShorten('https://example.com/new', 'https://dub.sh/new')
    const { body } = await api({ env: dub.env }).patch(`/${id}/`, { secondMessage: 'New https://example.com/new' })
    expect(body).toMatchObject({ firstMessage: 'Old https://example.com/old', secondMessage: 'New https://dub.sh/new' })
    expect(dub.links.map((link) => link.url)).toEqual(['https://example.com/new'])
  })

  it('keeps the long links when Dub fails', async () => {
    const label = await createLabel(db.sql)
    dub.failNext(5)
    const { status, body } = await api({ env: dub.env }).post('/', {
      firstMessage: 'Read https://example.com/a',
      runAt: futureSeconds(),
      segments: { included: { id: label.id } },
    })
    expect(status).toBe(200)
    expect(body.firstMessage).toBe('Read https://example.com/a')
    expect((await campaignRow(db.sql, body.id)).first_message).toBe('Read https://example.com/a')
  })
})
